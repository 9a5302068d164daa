"""The plain-SQL transfer, the least any transfer must do: lock two balance rows in id
order, update them, insert a journal entry and two postings, commit. Hand-written SQL, no
ORM, no checks. bench/ledger.py's service-layer floor and its HTTP floor (bench/http_floor.py)
both run this."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text


class PlainTransfer:
    """``transfer(conn, a, b)`` moves one fen from wallet account ``a`` to ``b`` in its own
    transaction on ``conn``; ``op_id`` is the operation every journal entry points at."""

    def __init__(self, dialect: str, op_id: int) -> None:
        from okpay.core import clock

        self.clock = clock
        self.sqlite = dialect == "sqlite"
        self.op_id = op_id
        lock = "" if self.sqlite else "FOR NO KEY UPDATE"
        self.select_pair = text(
            f"SELECT id, balance FROM wallet_account WHERE id IN (:a, :b) ORDER BY id {lock}"
        )
        self.update_balance = text("UPDATE wallet_account SET balance = :v WHERE id = :id")
        self.insert_entry = text(
            "INSERT INTO journal_entry (operation_id, kind, created_at) "
            "VALUES (:o, 'bench', :t) RETURNING id"
        )
        self.insert_postings = text(
            "INSERT INTO posting (entry_id, account_id, currency, amount, balance_after, "
            "created_at) VALUES (:e, :acc, 'CNY', :amt, :after, :t)"
        )

    def __call__(self, conn: Any, a: int, b: int) -> None:
        with conn.begin():
            bal = dict(conn.execute(self.select_pair, {"a": a, "b": b}).all())
            conn.execute(
                self.update_balance, [{"v": bal[a] - 1, "id": a}, {"v": bal[b] + 1, "id": b}]
            )
            now = self.clock.now()
            at = now.replace(tzinfo=None) if self.sqlite else now
            entry = conn.execute(self.insert_entry, {"o": self.op_id, "t": at}).scalar_one()
            conn.execute(
                self.insert_postings,
                [
                    {"e": entry, "acc": a, "amt": -1, "after": bal[a] - 1, "t": at},
                    {"e": entry, "acc": b, "amt": 1, "after": bal[b] + 1, "t": at},
                ],
            )
