"""Operation references that never clash: each one spells a number no other operation had.

The numbers come from the database, so every app process and machine draws from one
source (see core.ids for how a number becomes ``TX-YYYYMMDD-`` and ten characters):

- PostgreSQL: the sequence ``wallet_reference_seq`` (migration s103) counts in blocks of
  :data:`BLOCK`; a process takes a block with one ``nextval`` and hands its numbers out
  from memory, so a transfer rarely pays a round trip for its reference. ``nextval`` is
  never rolled back: a block is never given to two processes, even when the transaction
  that took it fails (its unused numbers are skipped, which costs nothing).
- SQLite: one writer at a time, so the numbers are counted in a row
  (``wallet_reference_counter``) inside the operation's own transaction: a rollback takes
  back the numbers together with the operations that used them.

A reference is therefore unique by construction; the unique constraint on
``wallet_operation.reference`` stays as a guard that should never fire."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.ids import numbered_reference

BLOCK = 1000  # the sequence's INCREMENT BY (migration s103): both must stay the same
PREFIX = "TX"


@dataclass
class _Block:
    pid: int
    next: int
    end: int  # exclusive


_blocks: dict[str, _Block] = {}
_lock = threading.Lock()


def new_references(session: Session, count: int) -> list[str]:
    """``count`` references no operation has had or will have, in order."""
    if count <= 0:
        return []
    numbers = _numbers(session, count)
    now = clock.now()
    return [numbered_reference(PREFIX, n, now) for n in numbers]


def new_reference(session: Session) -> str:
    (reference,) = new_references(session, 1)
    return reference


def _numbers(session: Session, count: int) -> list[int]:
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return _counted(session, count)
    key = str(bind.engine.url)
    taken: list[int] = []
    with _lock:
        block = _blocks.get(key)
        if block is not None and block.pid != os.getpid():  # forked: the parent's block
            block = None
        while len(taken) < count:
            if block is None or block.next >= block.end:
                need = -(-(count - len(taken)) // BLOCK)
                starts = session.execute(
                    text("SELECT nextval('wallet_reference_seq') FROM generate_series(1, :n)"),
                    {"n": need},
                ).scalars()
                fresh = [range(int(s), int(s) + BLOCK) for s in starts]
                for extra in fresh[:-1]:  # whole blocks for a large batch
                    taken.extend(extra[: count - len(taken)])
                last = fresh[-1]
                block = _blocks[key] = _Block(os.getpid(), last.start, last.stop)
            step = min(count - len(taken), block.end - block.next)
            taken.extend(range(block.next, block.next + step))
            block.next += step
    return taken


_COUNT = text(
    "INSERT INTO wallet_reference_counter (id, value) VALUES (1, :n) "
    "ON CONFLICT (id) DO UPDATE SET value = wallet_reference_counter.value + :n "
    "RETURNING value"
)


def _counted(session: Session, count: int) -> list[int]:
    last = int(session.execute(_COUNT, {"n": count}).scalar_one())
    return list(range(last - count + 1, last + 1))
