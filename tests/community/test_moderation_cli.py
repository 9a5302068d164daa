"""`okpay moderation`: the queue and bans from the shell, as a named staff member."""

from __future__ import annotations

from typer.testing import CliRunner

from okpay.cli import app as cli_app
from okpay.community import moderation_reports
from okpay.community.models import ForumBan
from okpay.identity.models import Role
from tests.community.moderation_helpers import load_user, make_thread, make_user


def test_queue_ban_and_unban(db) -> None:
    make_user(db, "mod@example.com", role=Role.agent)
    asker = make_user(db, "asker@example.com")
    dealer = make_user(db, "dealer@example.com")
    _thread, posts = make_thread(db, asker, answers=((dealer, "场外换汇，加我"),))
    with db.unit_of_work() as s:
        moderation_reports.do_report_post(
            s, user=load_user(s, asker), post_id=posts[1], reason="scam"
        )
    runner = CliRunner()
    shown = runner.invoke(cli_app, ["moderation", "queue", "--as", "mod@example.com"])
    assert shown.exit_code == 0, shown.output
    assert "reports=1" in shown.output and "scam:1" in shown.output and "场外换汇" in shown.output
    refused = runner.invoke(cli_app, ["moderation", "queue", "--as", "asker@example.com"])
    assert refused.exit_code == 1 and "forum_moderator_only" in refused.output
    banned = runner.invoke(
        cli_app,
        ["moderation", "ban", "dealer@example.com", "--reason", "场外换汇", "--days", "7",
         "--as", "mod@example.com"],
    )  # fmt: skip
    assert banned.exit_code == 0, banned.output
    with db.unit_of_work(write=False) as s:
        ban = s.get(ForumBan, dealer)
        assert ban is not None and ban.until is not None and ban.reason == "场外换汇"
    by_customer = runner.invoke(
        cli_app, ["moderation", "unban", "dealer@example.com", "--as", "asker@example.com"]
    )
    assert by_customer.exit_code == 1
    lifted = runner.invoke(
        cli_app, ["moderation", "unban", "dealer@example.com", "--as", "mod@example.com"]
    )
    assert lifted.exit_code == 0, lifted.output
    with db.unit_of_work(write=False) as s:
        assert s.get(ForumBan, dealer) is None
