"""The community forum (用户社区): questions and answers from users, badged answers from staff,
moderation, and the privacy guard that keeps personal data out of public posts."""
