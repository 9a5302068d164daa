"""Inbound e-mail: mail to the support address opens a ticket or joins one.

Two layers:

- :func:`receive` turns one raw message into a ticket, a customer message, an internal note
  or nothing, inside the caller's unit of work. It needs no SMTP: an IMAP poller or a test
  can call it directly. :func:`process` wraps it in its own unit of work (with a retry when
  two deliveries race on PostgreSQL).
- :func:`start_listener` runs an SMTP server (aiosmtpd) in a thread: ``okpay serve`` starts
  one on 127.0.0.1:OKPAY_MAIL_IN_PORT, ``okpay mail-in`` runs it alone. It accepts mail for
  the support address only and hands each message to :func:`process` on a thread pool.

Rules the code follows (docs/support.md, "E-mail channel"):

- ``From:`` is never proof of identity. A ticket is never attached to a user account because
  the address matches; the agent sees a tag and a note instead. Only the ticket's requester
  address may add to a ticket; mail from another address that names a ticket opens a new
  ticket, with a note for the agents.
- ``From:`` alone never makes a message the requester's own words. When the envelope sender
  (the SMTP ``MAIL FROM``, else the ``Return-Path`` the MTA wrote) is another address, or the
  receiving MTA's ``Authentication-Results`` (only from a trusted authserv-id,
  ``OKPAY_INBOUND_TRUSTED_AUTHSERV_IDS``) say DMARC, SPF or DKIM failed, a message that would
  join a ticket is added as an unverified message the agents see flagged: it changes nothing
  (no reopening, no status or SLA change, no files kept). A new ticket from such mail is
  tagged and noted for the agents.
- Automatic mail (auto-replies, bounces, mailing lists, our own mail coming back) is never
  answered and never opens a ticket. When it belongs to a ticket it becomes an internal note.
- Each sender address gets ``OKPAY_INBOUND_PER_HOUR`` messages an hour; above that the
  message is dropped, and the SMTP listener answers 451 so a real mail server tries later.
- The same Message-ID delivered twice is stored once.
"""
