"""The mobile-number change page: the confirmation step names the number the code was texted
to, masked as everywhere else (issue 15: "the SMS code page names the number it was sent
to")."""

from __future__ import annotations

from tests.helpers import PASSWORD, post_form
from tests.identity.test_pages import make_user, sign_in


def test_the_code_step_names_the_new_number_masked(client, db) -> None:  # type: ignore[no-untyped-def]
    make_user(db)
    sign_in(client)
    sent = post_form(client, "/account/phone", {"new_phone": "137 1234 5678", "password": PASSWORD})
    assert sent.status_code == 200, sent.text
    assert "We texted a 6-digit code to +86 137****5678." in sent.text
    assert "137 1234 5678" not in sent.text.replace('value="137 1234 5678"', "")
    assert 'name="sms_code"' in sent.text
