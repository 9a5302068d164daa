"""`okpay community categories ...` and the forum's demo threads in `okpay demo load`."""

from __future__ import annotations

from sqlalchemy import func, select
from typer.testing import CliRunner

from okpay.cli import app as cli_app
from okpay.community.models import ForumCategory, ForumPost, ForumThread


def test_categories_sync_list_and_add(db) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    first = runner.invoke(cli_app, ["community", "categories", "sync"])
    assert first.exit_code == 0 and "5 categories added" in first.output
    again = runner.invoke(cli_app, ["community", "categories", "sync"])
    assert "0 categories added" in again.output
    added = runner.invoke(
        cli_app,
        [
            "community",
            "categories",
            "add",
            "merchant-api",
            "--zh",
            "商户接口",
            "--en",
            "Merchant API",
        ],
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli_app, ["community", "categories", "list"])
    assert "账户与安全 / Account and security" in listed.output
    assert "merchant-api" in listed.output
    bad = runner.invoke(
        cli_app, ["community", "categories", "add", "Bad Slug!", "--zh", "x", "--en", "x"]
    )
    assert bad.exit_code == 1
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(ForumCategory)) == 6


def test_demo_load_adds_the_forum_threads_once(db) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    first = runner.invoke(cli_app, ["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "3 community threads added" in first.output
    again = runner.invoke(cli_app, ["demo", "load"])
    assert "0 community threads added" in again.output
    with db.unit_of_work(write=False) as s:
        threads = s.scalars(select(ForumThread)).all()
        assert {t.locale for t in threads} == {"zh_CN", "en"}
        solved = [t for t in threads if t.accepted_post_id]
        assert len(solved) == 1
        accepted = s.get(ForumPost, solved[0].accepted_post_id)
        assert accepted is not None and accepted.is_official
