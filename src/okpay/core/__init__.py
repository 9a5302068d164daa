"""Shared building blocks: errors, i18n, clock, ids, audit, request context, security."""
