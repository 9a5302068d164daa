"""Hotlines by region: configuration checks, open now and next opening across weekends,
holidays and daylight saving, the visitor's line first, the public API, the contact page and
the contact-support article reading the live configuration."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from okpay.core.errors import Conflict, ValidationFailed
from okpay.helpcenter import hotlines
from okpay.helpcenter.hotline_models import Hotline
from okpay.identity import users as identity_users
from tests.helpcenter.hotline_helpers import HK, add_demo_set, add_hotline, local
from tests.helpers import PASSWORD, post_form
from tests.wallet.helpers import make_user

NY = ZoneInfo("America/New_York")


def sign_in(client, email: str) -> None:  # type: ignore[no-untyped-def]
    assert post_form(client, "/login", {"email": email, "password": PASSWORD}).status_code == 303


# ------------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("400 820 1234", "CN", "+864008201234"),
        ("2123 4567", "HK", "+85221234567"),
        ("+852 2123 4567", "US", "+85221234567"),
        ("＋８５２ ２１２３ ４５６７", "HK", "+85221234567"),  # full-width, as IMEs type it
    ],
)
def test_numbers_are_validated_and_stored_in_e164(raw: str, region: str, e164: str) -> None:
    assert hotlines.check_number(raw, region=region) == e164


@pytest.mark.parametrize(
    "raw", ["", "123", "+852 1", "<script>alert(1)</script>", "9" * 40, "+85328000000", "\x00+852"]
)
def test_bad_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        hotlines.check_number(raw, region="HK")
    assert err.value.code == "phone_number_invalid"


def test_bad_configuration_is_refused_and_nothing_is_stored(db) -> None:  # type: ignore[no-untyped-def]
    cases = [
        {"region": "XX1", "code": "hotline_region_invalid"},
        {"region": "ZZ", "code": "hotline_region_invalid"},
        {"timezone": "Mars/Olympus", "code": "hotline_timezone_invalid"},
        {"languages": "<b>", "code": "hotline_language_invalid"},
        {"languages": "", "code": "hotline_languages_count"},
    ]
    for case in cases:
        code = case.pop("code")
        values = {"region": "HK", "number": "+85221234567", "timezone": "Asia/Hong_Kong",
                  "languages": "zh-HK,en", **case}  # fmt: skip
        with pytest.raises(ValidationFailed) as err, db.unit_of_work() as s:
            hotlines.do_add_hotline(s, actor=None, **values)
        assert err.value.code == code
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Hotline)) == 0


def test_a_region_has_one_hotline_and_hours_are_checked(db) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    with pytest.raises(Conflict), db.unit_of_work() as s:
        hotlines.do_add_hotline(
            s, actor=None, region="hk", number="+85221234568", timezone="Asia/Hong_Kong",
            languages="en",
        )  # fmt: skip
    for opens, closes, days in (
        ("18:00", "09:00", "0"),
        ("9", "18:00", "0"),
        ("09:00", "18:00", "7"),
    ):
        with pytest.raises(ValidationFailed), db.unit_of_work() as s:
            hotlines.do_set_hours(
                s, actor=None, region="HK", weekdays=days, opens=opens, closes=closes
            )


# ----------------------------------------------------------------------------- schedule


def _schedule(db, region: str = "HK") -> hotlines.Schedule:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        line = hotlines.get_hotline(s, region)
        assert line is not None
        return hotlines.Schedule.of(line)


def test_open_now_and_next_opening_across_the_weekend_and_a_holiday(db) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db, holidays=((date(2026, 12, 7), "Test holiday"),))
    sched = _schedule(db)
    assert sched.is_open(local(HK, 2026, 12, 4, 9, 0))  # Friday 09:00
    assert not sched.is_open(local(HK, 2026, 12, 4, 18, 0))  # closing time is closed
    # Friday evening → Saturday, Sunday closed, Monday a holiday → Tuesday 09:00
    nxt = sched.next_opening(local(HK, 2026, 12, 4, 18, 30))
    assert nxt == local(HK, 2026, 12, 8, 9, 0)
    assert nxt is not None and nxt.astimezone(HK).time() == time(9, 0)


def test_hours_follow_the_regions_daylight_saving(db) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db, "US", "+1 800-555-0199", "America/New_York", "en", "0-4", "08:00", "20:00")
    sched = _schedule(db, "US")
    # 08:00 in New York is 13:00 UTC in winter and 12:00 UTC in summer.
    assert sched.next_opening(local(NY, 2027, 1, 4, 7, 0)) == local(NY, 2027, 1, 4, 8, 0)
    assert local(NY, 2027, 1, 4, 8, 0).hour == 13
    assert sched.next_opening(local(NY, 2027, 7, 5, 7, 0)) == local(NY, 2027, 7, 5, 8, 0)
    assert local(NY, 2027, 7, 5, 8, 0).hour == 12


def test_a_line_with_no_hours_is_closed_with_no_next_opening(db) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        hotlines.do_add_hotline(
            s, actor=None, region="TW", number="+886 2 2123 4567", timezone="Asia/Taipei",
            languages="zh-TW",
        )  # fmt: skip
    sched = _schedule(db, "TW")
    assert sched.next_opening(local(HK, 2026, 12, 7, 10, 0)) is None


def test_the_visitors_line_comes_from_country_then_language(db) -> None:  # type: ignore[no-untyped-def]
    add_demo_set(db)
    uid = make_user(db, "hk@example.com", phone="+852 6123 4567")
    with db.unit_of_work() as s:
        user = identity_users.get_user(s, uid)
        assert user is not None
        lines = hotlines.list_hotlines(s)
        assert hotlines.choose(lines, user=None, locale="zh_CN").hotline.region == "CN"  # type: ignore[union-attr]
        assert hotlines.choose(lines, user=None, locale="en").hotline.region == "SG"  # type: ignore[union-attr]
        assert hotlines.choose(lines, user=user, locale="en").reason == "country"
        assert hotlines.choose(lines, user=user, locale="en").hotline.region == "HK"  # type: ignore[union-attr]
        assert hotlines.choose(lines, user=user, locale="en", chosen="us").hotline.region == "US"  # type: ignore[union-attr]
        user.phone = "+81312345678"  # no line for Japan: the language decides
        assert hotlines.choose(lines, user=user, locale="zh_CN").hotline.region == "CN"  # type: ignore[union-attr]
        assert hotlines.choose(lines, user=None, locale="fr").hotline is None
        assert hotlines.region_for_country(lines, "DE") is None  # no EU line in this set


# ---------------------------------------------------------------------------- pages, API


def test_contact_page_for_a_hong_kong_profile_shows_hk_open_now(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_demo_set(db)
    make_user(db, "hk@example.com", phone="+852 6123 4567")  # a Hong Kong profile
    clock.now = local(HK, 2026, 12, 7, 10, 30)  # Monday 10:30 in Hong Kong
    sign_in(client, "hk@example.com")
    html = client.get("/help/contact").text
    featured = html.split('data-testid="hotline-featured"', 1)[1].split("</article>", 1)[0]
    assert 'data-region="HK"' in featured
    assert "+852 2123 4567" in featured
    assert "Open now, until 18:00 Hong Kong Standard Time." in featured
    assert "2026-12" not in html  # no ISO dates on the page


def test_english_visitor_out_of_hours_sees_closed_and_next_opening(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_demo_set(db)
    clock.now = local(HK, 2026, 12, 5, 20, 0)  # Saturday 20:00 in Singapore/Shanghai
    html = client.get("/help/contact").text
    featured = html.split('data-testid="hotline-featured"', 1)[1].split("</article>", 1)[0]
    assert 'data-region="SG"' in featured
    assert "Closed now. Opens Monday, December 7, 2026 09:00 China Standard Time." in featured


def test_chinese_visitor_sees_chinese_hours(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_demo_set(db)
    clock.now = local(HK, 2026, 12, 6, 12, 0)  # Sunday: the mainland line is closed
    html = client.get("/help/contact", headers={"Accept-Language": "zh-CN"}).text
    featured = html.split('data-testid="hotline-featured"', 1)[1].split("</article>", 1)[0]
    assert 'data-region="CN"' in featured
    assert "+86 400 820 1234" in featured
    assert "2026年12月7日星期一 09:00 中国标准时间" in featured


def test_no_hotlines_gives_a_clear_empty_state(client, db) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/help/contact").text
    assert 'data-testid="hotlines-empty"' in html
    assert client.get("/api/v1/help/hotlines").json()["hotlines"] == []


def test_api_lists_lines_with_open_now(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    add_demo_set(db)
    clock.now = local(HK, 2026, 12, 7, 10, 0)
    body = client.get("/api/v1/help/hotlines?region=US").json()
    assert body["featured_region"] == "US" and body["reason"] == "chosen"
    regions = {h["region"]: h for h in body["hotlines"]}
    assert regions["HK"]["open_now"] is True and regions["HK"]["number"] == "+85221234567"
    assert regions["US"]["open_now"] is False  # 21:00 the evening before in New York
    assert regions["US"]["next_opening_at"].startswith("2026-12-07T13:00")
    assert client.get("/api/v1/help/hotlines?region=" + "x" * 50).status_code == 422


def test_contact_support_article_shows_the_live_table(client, db, clock, articles) -> None:  # type: ignore[no-untyped-def]
    add_demo_set(db)
    clock.now = local(HK, 2026, 12, 7, 10, 0)
    zh = client.get("/help/articles/contact-support", headers={"Accept-Language": "zh-CN"}).text
    assert 'data-testid="hotline-featured" data-region="CN"' in zh
    assert "+86 400 820 1234" in zh and "%%hotlines%%" not in zh
    en = client.get("/help/articles/contact-support").text
    assert "+65 6123 4567" in en
    # Searching 客服电话 finds the article.
    hits = client.get("/api/v1/help/search", params={"q": "客服电话", "lang": "zh-CN"}).json()
    assert hits["results"][0]["slug"] == "contact-support"
    assert "%%" not in client.get("/api/v1/help/articles/contact-support").json()["html"]


def test_the_article_follows_the_configuration(client, db, clock, articles) -> None:  # type: ignore[no-untyped-def]
    add_hotline(db)
    clock.now = local(HK, 2026, 12, 7, 10, 0)
    assert "+852 2123 4567" in client.get("/help/articles/contact-support").text
    with db.unit_of_work() as s:
        hotlines.do_update_hotline(s, actor=None, region="HK", number="+852 2123 4568")
    text = client.get("/help/articles/contact-support").text
    assert "+852 2123 4568" in text and "+852 2123 4567" not in text
