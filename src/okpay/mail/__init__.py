"""Outbound e-mail: templates in both languages, SMTP or the dev outbox, sent by a job."""
