"""Delivery: each message in its own unit of work (:func:`process`), and the SMTP listener
(aiosmtpd) that hands mail for the support address to it on a thread pool."""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import parseaddr
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy.exc import DBAPIError, IntegrityError

from okpay.core import context
from okpay.core.errors import DomainError
from okpay.db import get_database
from okpay.settings import get_settings
from okpay.support.inbound import filing

log = logging.getLogger(__name__)


MAX_MESSAGE_BYTES = 25 * 1024 * 1024


def process(
    raw: bytes, *, envelope_from: str | None = None, peer: str | None = None
) -> filing.Received:
    """Receive one message in its own unit of work. Two deliveries racing on PostgreSQL
    (the same sender's rate row, the same Message-ID) are retried."""
    context.set_current(context.RequestContext(ip=peer, user_agent="smtp", channel=filing.EMAIL))
    db = get_database()
    for attempt in range(3):
        try:
            with db.unit_of_work() as session:
                return filing.receive(session, raw, envelope_from=envelope_from)
        except (IntegrityError, DBAPIError) as exc:
            if attempt == 2 or not _retryable(exc):
                raise
            time.sleep(0.05 * (attempt + 1))
        except DomainError as err:
            # Something in the message no channel accepts (e.g. a subject of only control
            # characters after cleaning). Keep nothing, say why in the log, answer nothing.
            log.warning("inbound mail not filed: %s %s", err.code, err.params)
            return filing.Received("ignored", reason=err.code)
    raise AssertionError("unreachable")


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in ("40001", "40P01")  # serialization failure, deadlock


class SupportMailHandler:
    """aiosmtpd handler: mail for the support address only, filed on a thread pool."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        wanted = parseaddr(get_settings().support_address)[1].lower()
        if parseaddr(address)[1].strip().lower() != wanted:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        peer = session.peer[0] if isinstance(session.peer, tuple) else None
        # The null sender of bounces, MAIL FROM:<>, arrives as "<>".
        sender = "" if envelope.mail_from in (None, "", "<>") else envelope.mail_from
        call = functools.partial(process, raw, envelope_from=sender, peer=peer)
        try:
            result = await asyncio.get_running_loop().run_in_executor(self.executor, call)
        except Exception:
            log.exception("inbound mail could not be filed; asking the sender to retry")
            return "451 4.3.0 Temporary failure; please try again later"
        return result.smtp_reply


class MailListener(Controller):
    """The SMTP listener in a thread of its own; ``port=0`` picks a free port (tests).
    ``.port`` is the port it listens on; ``.stop()`` ends it."""

    def __init__(
        self, *, host: str, port: int, workers: int = 4, max_bytes: int = MAX_MESSAGE_BYTES
    ) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mail-in")
        super().__init__(
            SupportMailHandler(self.executor),
            hostname=host,
            port=port,
            data_size_limit=max_bytes,
            ident="OKPay support mail",
            server_hostname=host,
            timeout=120,
        )
        self._sock: socket.socket | None = None

    def _create_server(self) -> Any:
        assert self._sock is not None
        return self.loop.create_server(self._factory_invoker, sock=self._sock)

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.hostname else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.hostname, self.port))
        except OSError:
            sock.close()
            raise
        sock.listen(100)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._sock = sock
        super().start()

    def stop(self, no_assert: bool = False) -> None:
        super().stop(no_assert=no_assert)
        self.executor.shutdown(wait=True)


def start_listener(
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    workers: int = 4,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> MailListener:
    """Start the inbound SMTP listener (``port`` None: OKPAY_MAIL_IN_PORT; 0: a free one).
    The caller has imported okpay.models (every table), as the CLI does."""
    listener = MailListener(
        host=host,
        port=get_settings().mail_in_port if port is None else port,
        workers=workers,
        max_bytes=max_bytes,
    )
    listener.start()
    log.info("inbound mail on %s:%s for %s", host, listener.port, get_settings().support_address)
    return listener
