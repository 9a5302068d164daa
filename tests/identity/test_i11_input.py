"""Issue 11, item 13: names refuse control and separator characters of every script;
amounts take ASCII digits (full-width ones count as ASCII) with one decimal point."""

from __future__ import annotations

import pytest

from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.money import parse_amount
from okpay.identity import validation
from okpay.support.customer import ContactForm
from okpay.wallet import merchants as wallet_merchants
from tests.helpers import api_token
from tests.wallet.helpers import fund, make_user

# (what is hidden in the name, the error code it gets)
BAD_NAMES = [
    ("Bob\u0085Lee", "line_break_not_allowed"),  # NEXT LINE (Cc)
    ("Bob\u2028Lee", "line_break_not_allowed"),  # LINE SEPARATOR (Zl)
    ("Bob\u2029Lee", "line_break_not_allowed"),  # PARAGRAPH SEPARATOR (Zp)
    ("Bob\x0bLee", "line_break_not_allowed"),
    ("Bob\x1bLee", "control_characters"),
    ("Bob\tLee", "control_characters"),
    ("Bob\u202eeeL", "control_characters"),  # RIGHT-TO-LEFT OVERRIDE (Cf)
    ("Bob\u200bLee", "control_characters"),  # ZERO WIDTH SPACE (Cf)
    ("Bob\ufeffLee", "control_characters"),  # BYTE ORDER MARK (Cf)
    ("Bob\u00adLee", "control_characters"),  # SOFT HYPHEN (Cf)
    ("\u200dBob", "control_characters"),  # a joiner not between two letters
    ("Bob\ue000", "control_characters"),  # private use (Co)
    ("Bob\u00a0Lee", "unusual_space"),  # NO-BREAK SPACE (Zs)
    ("张\u3000伟", "unusual_space"),  # IDEOGRAPHIC SPACE (Zs)
    ("Bob\u2003Lee", "unusual_space"),  # EM SPACE (Zs)
]


def _error(call) -> str:  # type: ignore[no-untyped-def]
    try:
        call()
    except DomainError as err:
        return err.code
    return "accepted"


@pytest.mark.parametrize(("bad", "code"), BAD_NAMES)
def test_i11_item13_the_name_check_refuses(bad: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validation.check_person_name(bad)
    assert refused.value.code == code
    assert ContactForm(name=bad).check(None)["name"]  # the contact form's guest name


def test_i11_item13_names_that_stay_allowed() -> None:
    check = validation.check_person_name
    assert check("  张伟 ") == "张伟"
    assert check("Zoë   O'Brien-Łukasz") == "Zoë O'Brien-Łukasz"  # runs of spaces become one
    assert check("می\u200cخواهم") == "می\u200cخواهم"  # a non-joiner inside a Persian word
    assert check("क्\u200dष") == "क्\u200dष"  # a joiner inside a Devanagari cluster
    # Notes, reasons and subjects are text, not names: any space, but no line breaks.
    assert validation.check_name("午饭\u3000AA", field="note") == "午饭\u3000AA"
    with pytest.raises(ValidationFailed):
        validation.check_name("午饭\u2028AA", field="note")


def test_i11_item13_names_refuse_control_and_separators(client, db) -> None:
    """Every name field (display name at sign-up and in the profile, card holder, bank and
    account holder, merchant, the contact form's guest name) refuses each bad character with
    its specific code and in the user's language, and stores nothing."""
    alice = make_user(db, "alice@example.com")
    fund(db, alice, 1_00)
    headers = api_token(client, "alice@example.com")
    zh = {**headers, "Accept-Language": "zh-CN"}
    for bad, code in BAD_NAMES:
        fields = {
            "register": client.post(
                "/api/v1/auth/register",
                json={"email": "new@example.com", "password": "correct horse battery", "name": bad},
            ),
            "profile": client.patch("/api/v1/me", headers=headers, json={"name": bad}),
            "card holder": client.post(
                "/api/v1/wallet/payment-methods/cards",
                headers=headers,
                json={
                    "card_number": "4242424242424242",
                    "exp_month": 12,
                    "exp_year": 2030,
                    "cvc": "123",
                    "holder_name": bad,
                },
            ),
            "account holder": client.post(
                "/api/v1/wallet/payment-methods/bank-accounts",
                headers=headers,
                json={
                    "account_number": "6222020200112233",
                    "bank_name": "ICBC",
                    "holder_name": bad,
                },
            ),
            "bank name": client.post(
                "/api/v1/wallet/payment-methods/bank-accounts",
                headers=headers,
                json={"account_number": "6222020200112233", "bank_name": bad, "holder_name": "Al"},
            ),
        }
        for what, response in fields.items():
            assert response.status_code == 422, (what, bad, response.text)
            assert response.json()["error"]["code"] == code, (what, bad, response.text)
        with db.unit_of_work() as s:
            assert (
                _error(
                    lambda s=s, bad=bad: wallet_merchants.do_create_merchant(
                        s, code=f"m{len(bad)}", name=bad, owner_user_id=None
                    )
                )
                == code
            )
    assert client.get("/api/v1/me", headers=headers).json()["name"] == "Alice"
    assert client.get("/api/v1/wallet/payment-methods", headers=headers).json() == []
    chinese = client.patch("/api/v1/me", headers=zh, json={"name": "张\u3000伟"}).json()
    assert chinese["error"]["message"] == "名称中只能使用普通空格（半角空格）。"


AMOUNTS_REFUSED = [
    ("١٠", "amount_not_ascii"),  # Arabic-Indic digits
    ("۱۰", "amount_not_ascii"),  # Persian digits
    ("১০", "amount_not_ascii"),  # Bengali digits
    ("𝟏𝟎", "amount_not_ascii"),  # mathematical bold digits
    ("¹⁰", "amount_not_ascii"),  # superscripts
    ("10\u00a0000", "amount_not_ascii"),
    ("1,0,0", "amount_invalid"),
    ("1,00", "amount_invalid"),
    ("10,000,00", "amount_invalid"),
    (",100", "amount_invalid"),
    ("10.5.1", "amount_invalid"),
    ("10.", "amount_invalid"),
    ("1e3", "amount_invalid"),
    ("+10", "amount_invalid"),
    ("NaN", "amount_invalid"),
    ("10 000", "amount_invalid"),
    ("-5", "amount_not_positive"),
    ("0.001", "amount_too_precise"),
]


def test_i11_item13_amounts_ascii_only(client, db) -> None:
    """Only ASCII digits, one decimal point and thousands separators in their places; the
    full-width digits, point and comma a Chinese input method types count as ASCII."""
    for text, code in AMOUNTS_REFUSED:
        with pytest.raises(ValidationFailed) as refused:
            parse_amount(text, "CNY")
        assert refused.value.code == code, text
    accepted = {
        "10": 10_00,
        " 10.5 ": 10_50,
        "1,000": 1_000_00,
        "12,345.60": 12_345_60,
        "１０": 10_00,
        "１０．５": 10_50,
        "１，０００": 1_000_00,
    }
    for text, minor in accepted.items():
        assert parse_amount(text, "CNY") == minor, text
    # Through the API, in the user's language, and nothing moves.
    alice = make_user(db, "alice@example.com")
    make_user(db, "bob@example.com")
    fund(db, alice, 100_00)
    headers = {**api_token(client, "alice@example.com"), "Accept-Language": "zh-CN"}
    for n, text in enumerate(("١٠", "1,0,0")):
        response = client.post(
            "/api/v1/wallet/transfers",
            headers={**headers, "Idempotency-Key": f"k{n}"},
            json={"recipient": "bob@example.com", "amount": text, "currency": "CNY"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "amount"
    refused = client.post(
        "/api/v1/wallet/transfers",
        headers={**headers, "Idempotency-Key": "k9"},
        json={"recipient": "bob@example.com", "amount": "١٠", "currency": "CNY"},
    ).json()
    assert refused["error"]["message"] == "请用数字 0 到 9 输入金额，最多一个小数点。"
