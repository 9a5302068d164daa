"""Shortcuts for service-centre tests: staff in teams, tickets opened as a channel would."""

from __future__ import annotations

from okpay.identity import operators as identity_operators
from okpay.identity import users as identity_users
from okpay.identity.models import Role, User
from okpay.support import access, agents, tickets
from okpay.support.models import Ticket
from tests.helpers import PASSWORD


def make_staff(db, email: str, *, team: str = "frontline", role: Role = Role.agent) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        user = identity_operators.do_create_user(
            s, email=email, password=PASSWORD, role=role, name=email.split("@")[0].title()
        )
        agents.set_agent_team(s, user=user, team=team)
        return user.id


def open_ticket(db, **fields) -> str:  # type: ignore[no-untyped-def]
    """Open a guest ticket on the contact form; returns its request number."""
    values = {
        "channel": "web",
        "subject": "Top-up not arrived",
        "body": "I topped up 100 yuan by bank transfer yesterday and it is not in my wallet.",
        "name": "Li Hua",
        "email": "lihua@example.com",
        "category": "topup",
    }
    values.update(fields)
    with db.unit_of_work() as s:
        return tickets.do_open_ticket(s, tickets.NewTicket(**values)).number


def load(db, number: str) -> Ticket:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        return ticket


def user(s, user_id: int) -> User:  # type: ignore[no-untyped-def]
    found = identity_users.get_user(s, user_id)
    assert found is not None
    return found


def pdf(catalog: str = "", page: str = "", objects: tuple[str, ...] = (), pages: int = 1) -> bytes:
    """A small, valid PDF written by hand: object 1 is the catalogue (``catalog`` adds to
    it), 2 the page tree, then ``pages`` pages (``page`` adds to each), then ``objects``."""
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    bodies = [
        f"<< /Type /Catalog /Pages 2 0 R {catalog} >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>",
        *[f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] {page} >>"] * pages,
        *objects,
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(bodies) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(bodies) + 1} /Root 1 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
