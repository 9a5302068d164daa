"""The forum's privacy guard: what it finds, what it leaves alone, and how it masks."""

from __future__ import annotations

import pytest

from okpay.community import privacy


def found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in privacy.scan(text)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("卡号 4111 1111 1111 1111 谢谢", "4111 1111 1111 1111"),
        ("card 4111-1111-1111-1111.", "4111-1111-1111-1111"),
        ("卡号４１１１１１１１１１１１１１１１。", "４１１１１１１１１１１１１１１１"),
        ("5500000000000004", "5500000000000004"),
    ],
)
def test_card_numbers_are_found_with_spaces_dashes_and_full_width_digits(text, value) -> None:
    assert found(text) == [("card_number", value)]


def test_a_luhn_invalid_number_is_not_a_card_number() -> None:
    assert found("卡号 4111 1111 1111 1112") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("我的手机13812345678，请联系", "13812345678"),
        ("手机 138-1234-5678", "138-1234-5678"),
        ("电话 010-62345678", "010-62345678"),
        ("座机 021 6234 5678", "021 6234 5678"),
        ("call me +852 9123 4567", "+852 9123 4567"),
        ("香港电话 91234567", "91234567"),
        ("台湾 +886 912 345 678", "+886 912 345 678"),
        ("Singapore +65 9123 4567", "+65 9123 4567"),
        ("US +1 (650) 253-0000", "+1 (650) 253-0000"),
        ("我的号码是１３８１２３４５６７８。", "１３８１２３４５６７８"),
    ],
)
def test_phone_numbers_are_found(text, value) -> None:
    assert found(text) == [("phone", value)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("邮箱 li.hua@example.com，谢谢", "li.hua@example.com"),
        ("write to a.b+c@mail.example.cn", "a.b+c@mail.example.cn"),
        ("ｆｏｏ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ｆｏｏ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
    ],
)
def test_email_addresses_are_found(text, value) -> None:
    assert found(text) == [("email", value)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("身份证 11010519491231002X", "11010519491231002X"),
        ("身份证 11010519491231002x。", "11010519491231002x"),
        ("香港身份证 A123456(3)", "A123456(3)"),
        ("台湾身分证 A123456789", "A123456789"),
    ],
)
def test_identity_numbers_with_a_valid_check_character_are_found(text, value) -> None:
    assert found(text) == [("id_number", value)]


@pytest.mark.parametrize(
    "text", ["身份证 110105194912310021", "香港身份证 A123456(4)", "台湾 A123456788"]
)
def test_identity_numbers_with_a_wrong_check_character_are_not(text) -> None:
    assert [kind for kind, _ in found(text)] == []


def test_transaction_references_are_found() -> None:
    assert found("交易编号 TX-20261207-ABCDEF 没到账") == [
        ("transaction_reference", "TX-20261207-ABCDEF")
    ]


@pytest.mark.parametrize(
    "text",
    [
        "转账 100.00 元",
        "金额 ¥1,234.56",
        "￥5000",
        "余额 13812345678.00 元",
        "1,000,000",
        "2026-12-07 14:30",
        "2026/12/07",
        "20261207",
        "时间 14:30:00",
        "50%",
        "98.5%",
        "订单号 20261207123",
        "订单号 91234567",
        "订单 202612071234",
        "订单号 2026120712345678",
        "1733558400",
        "版本 2.3.4",
        "第3页，共12页",
        "我在2026年12月7日充值了5000元，到账了吗？手续费是多少？",
        "客服热线 400-820-8820",
        "a@b.c",
    ],
)
def test_no_false_positives_on_ordinary_text(text) -> None:
    assert found(text) == []


def test_mask_keeps_the_rest_of_the_text_exactly() -> None:
    text = (
        "您好！卡号４１１１ １１１１ １１１１ １１１１，"
        "手机：13812345678；邮箱 li@example.com。谢谢（急）"
    )
    masked, kinds = privacy.mask(text)
    assert masked == "您好！卡号•••• 1111，手机：•••• 5678；邮箱 ••••。谢谢（急）"
    assert kinds == ["card_number", "phone", "email"]


def test_mask_hides_identity_numbers_and_emails_completely() -> None:
    masked, kinds = privacy.mask("ID 11010519491231002X, mail li.hua@example.com")
    assert masked == "ID ••••, mail ••••"
    assert "002X" not in masked and kinds == ["email", "id_number"]


def test_mask_leaves_clean_text_alone() -> None:
    text = "请问跨境转账的汇率怎么算？\n手续费 0.5%，到账时间 1–3 个工作日。"
    assert privacy.mask(text) == (text, [])


def test_a_card_number_is_not_also_a_phone_number() -> None:
    assert privacy.kinds(privacy.scan("4111111111111111")) == ["card_number"]


def test_labels_are_translated() -> None:
    from okpay.core.i18n import use_locale

    finding = privacy.scan("13812345678")[0]
    with use_locale("en"):
        assert finding.label == "phone number"


def test_numbers_okpay_publishes_can_be_exempted() -> None:
    text = "客服热线 +852 3001 2345，我的手机 +852 9123 4567"
    masked, kinds = privacy.mask(text, exempt_phones={"+85230012345"})
    assert masked == "客服热线 +852 3001 2345，我的手机 •••• 4567" and kinds == ["phone"]
    assert len(privacy.scan(text)) == 2
