"""Forum fixtures: the default categories and a few accounts (verified unless said)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from okpay.community import categories
from okpay.identity import operators
from okpay.identity.models import Role
from tests.helpers import PASSWORD

ASKER = "asker@example.com"
ANSWERER = "answerer@example.com"
OTHER = "other@example.com"
STAFF = "agent@example.com"
UNVERIFIED = "unverified@example.com"


@dataclass(frozen=True)
class People:
    asker: int
    answerer: int
    other: int
    staff: int
    unverified: int


@pytest.fixture
def forum(db):  # type: ignore[no-untyped-def]
    """Categories synced and five accounts; returns their ids."""
    with db.unit_of_work() as s:
        categories.do_sync(s)
        ids = {}
        for key, email, role, verified, locale in (
            ("asker", ASKER, Role.customer, True, "zh_CN"),
            ("answerer", ANSWERER, Role.customer, True, "en"),
            ("other", OTHER, Role.customer, True, "en"),
            ("staff", STAFF, Role.agent, True, "zh_CN"),
            ("unverified", UNVERIFIED, Role.customer, False, "en"),
        ):
            user = operators.do_create_user(
                s, email=email, password=PASSWORD, role=role, name=key.title(),
                verified=verified, locale=locale,
            )  # fmt: skip
            ids[key] = user.id
    return People(**ids)
