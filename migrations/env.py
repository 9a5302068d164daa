"""Alembic environment: the URL comes from OKPay's settings (or the caller's connection)."""

from __future__ import annotations

from typing import Any

from alembic import context

from okpay import models as all_models
from okpay.db import UTCDateTime, get_database

target_metadata = all_models.metadata()


def render_item(type_: str, obj: Any, autogen_context: Any) -> Any:
    # Migrations stay independent of OKPay's Python types.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    engine = get_database(context.config.attributes.get("url")).engine
    with engine.connect() as conn:
        _run_with(conn)
        conn.commit()


def _run_with(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
