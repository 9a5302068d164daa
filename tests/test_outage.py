"""okpay.outage: a dependency that fails is left alone for a while, and its outage is logged
when it starts and when it ends, not on every failed call in between."""

from __future__ import annotations

import logging

import pytest

from okpay.outage import Outage


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    monkeypatch.setattr("okpay.outage.time.monotonic", lambda: now[0])
    outage = Outage(5.0, logging.getLogger("okpay.test"), back="cache: back")
    assert outage.usable()
    outage.succeeded()  # nothing was down: nothing to say
    with caplog.at_level(logging.WARNING, logger="okpay.test"):
        outage.failed("cache: down (%s)", "timeout")
        assert not outage.usable()
        now[0] += 5.0
        assert outage.usable()  # the pause is over: try again
        outage.failed("cache: down (%s)", "timeout")  # still down: not logged again
        outage.succeeded()
        outage.succeeded()
    assert [r.getMessage() for r in caplog.records] == ["cache: down (timeout)", "cache: back"]
