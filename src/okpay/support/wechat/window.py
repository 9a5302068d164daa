"""The platform's reply window: a service account may send customer-service messages to a
follower only within 48 hours of the follower's last message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from okpay.core.errors import DomainError
from okpay.core.i18n import N_

WINDOW = timedelta(hours=48)


class WindowClosed(DomainError):
    """An agent's reply cannot reach the follower on WeChat and no account is bound."""

    code = "wechat_window_closed"
    status = 409
    message = N_(
        "This follower last wrote more than 48 hours ago, so WeChat no longer lets us "
        "answer them, and they have not bound an OKPay account we could e-mail instead."
    )


@dataclass(frozen=True)
class WindowState:
    """Whether a reply may still go out on WeChat, and until when."""

    is_open: bool
    closes_at: datetime
    remaining: timedelta


def state(last_message_at: datetime, now: datetime) -> WindowState:
    """The window after a follower's message at ``last_message_at``, seen at ``now``."""
    closes_at = last_message_at + WINDOW
    remaining = max(closes_at - now, timedelta(0))
    return WindowState(is_open=remaining > timedelta(0), closes_at=closes_at, remaining=remaining)
