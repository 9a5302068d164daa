"""The agents' console: queues with SLA timers and search (queues, timers), staff lists,
reports, and the actions taken from it (bulk changes, phone calls)."""
