"""Help-centre fixtures: the shipped articles synced into the test database."""

from __future__ import annotations

import pytest

from okpay.helpcenter import service


@pytest.fixture
def articles(db):  # type: ignore[no-untyped-def]
    with db.unit_of_work() as session:
        return service.do_sync(session)
