"""Case evidence (issue 13): every ticket file encrypted at rest, tampering refused, images
watermarked for their viewer, files deleted under the retention policy, never e-mailed."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import pytest
from PIL import Image, ImageChops
from sqlalchemy import select
from typer.testing import CliRunner

from okpay.cli import app as cli_app
from okpay.core.audit import AuditEvent
from okpay.support import access, files, messages, watermark
from okpay.support import customer as customer_module
from okpay.support.models import TicketAttachment
from tests.support.helpers import make_staff, pdf, user
from tests.support.test_console import AGENT, sign_in
from tests.support.test_customer_api import NEW, customer

# A marker no encryption would leave readable.
SECRET_TEXT = b"PASSPORT E12345678 ZHANG SAN"


def photo(fmt: str = "PNG", size: tuple[int, int] = (320, 200)) -> bytes:
    """A plain light picture, like a scanned document."""
    out = io.BytesIO()
    Image.new("RGB", size, (235, 235, 225)).save(out, fmt)
    return out.getvalue()


def upload(client, auth, number: str, items: list[tuple[str, bytes, str]]) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    response = client.post(
        f"/api/v1/support/tickets/{number}/files",
        data={"body": "My documents"},
        files=[("files", item) for item in items],
        headers=auth,
    )
    assert response.status_code == 201, response.text
    return list(response.json()["messages"][-1]["attachments"])


def rows(db) -> list[TicketAttachment]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return list(s.scalars(select(TicketAttachment).order_by(TicketAttachment.id)))


def on_disk(key: str) -> bytes:
    return files.storage_root().joinpath(key[:2], key).read_bytes()


def with_ticket(client, db) -> tuple[dict[str, str], str]:  # type: ignore[no-untyped-def]
    auth = customer(client, db)
    number = client.post("/api/v1/support/tickets", json=NEW, headers=auth).json()["number"]
    return auth, number


# ------------------------------------------------------------------ encryption at rest


def test_files_on_disk_are_encrypted_and_download_as_sent(client, db) -> None:  # type: ignore[no-untyped-def]
    auth, number = with_ticket(client, db)
    document = pdf(page=f"/Contents ({SECRET_TEXT.decode()})")
    sent = upload(client, auth, number, [("id.png", photo(), "image/png"),
                                         ("id.pdf", document, "application/pdf")])  # fmt: skip
    png_row, pdf_row = rows(db)
    png_raw, pdf_raw = on_disk(png_row.storage_key), on_disk(pdf_row.storage_key)
    for raw in (png_raw, pdf_raw):
        assert files.is_sealed(raw)
        assert b"\x89PNG" not in raw and b"%PDF-" not in raw and SECRET_TEXT not in raw
    # What comes back is what was accepted, and the recorded hash is the plaintext's.
    got = client.get(sent[1]["url"], headers=auth)
    assert got.status_code == 200 and got.content == document
    assert pdf_row.sha256 == hashlib.sha256(document).hexdigest()
    png = client.get(sent[0]["url"], headers=auth).content
    assert png.startswith(b"\x89PNG") and png_row.sha256 == hashlib.sha256(png).hexdigest()
    # Two uploads of the same bytes do not look alike on disk (a fresh nonce each).
    upload(client, auth, number, [("again.pdf", document, "application/pdf")])
    assert on_disk(rows(db)[-1].storage_key)[17:] != pdf_raw[17:]


def test_a_tampered_file_is_refused_never_served(client, db) -> None:  # type: ignore[no-untyped-def]
    auth, number = with_ticket(client, db)
    small = photo(size=(30, 30))
    sent = upload(client, auth, number, [("id.png", photo(), "image/png"),
                                         ("proof.png", small, "image/png")])  # fmt: skip
    first, second = rows(db)
    path = files.storage_root() / first.storage_key[:2] / first.storage_key
    raw = bytearray(path.read_bytes())
    raw[40] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(files.StoredFileDamaged):
        files.load(first.storage_key)
    answer = client.get(sent[0]["url"], headers=auth)
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "attachment_damaged"
    assert "damaged" in answer.json()["error"]["message"]
    # A sealed file copied over another key's does not open either: the key is authenticated.
    other = files.storage_root() / second.storage_key[:2] / second.storage_key
    other.write_bytes(files.seal(first.storage_key, b"someone else's document"))
    assert client.get(sent[1]["url"], headers=auth).json()["error"]["code"] == (
        "attachment_damaged"
    )


def test_plain_files_from_before_still_load_and_the_cli_encrypts_them(client, db) -> None:  # type: ignore[no-untyped-def]
    auth, number = with_ticket(client, db)
    sent = upload(client, auth, number, [("old.png", photo(), "image/png")])
    (row,) = rows(db)
    plain = client.get(sent[0]["url"], headers=auth).content
    path = files.storage_root() / row.storage_key[:2] / row.storage_key
    path.write_bytes(plain)  # as stored before encryption at rest
    assert client.get(sent[0]["url"], headers=auth).content == plain
    # A plain file swapped on disk does not match the recorded hash: refused.
    path.write_bytes(photo(size=(10, 10)))
    swapped = client.get(sent[0]["url"], headers=auth)
    assert swapped.json()["error"]["code"] == "attachment_damaged"
    path.write_bytes(plain)

    runner = CliRunner()
    done = runner.invoke(cli_app, ["support", "encrypt-attachments"])
    assert done.exit_code == 0, done.output
    assert "encrypted=1 already_encrypted=0" in done.output
    assert files.is_sealed(path.read_bytes()) and b"\x89PNG" not in path.read_bytes()
    assert client.get(sent[0]["url"], headers=auth).content == plain
    again = runner.invoke(cli_app, ["support", "encrypt-attachments"])
    assert "encrypted=0 already_encrypted=1" in again.output


# ------------------------------------------------------------------ watermarks


@pytest.mark.parametrize(("fmt", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_watermark_marks_the_picture_and_keeps_its_size_and_type(
    fmt: str, content_type: str
) -> None:
    original = photo(fmt, size=(640, 400))
    marked = files.watermark_image(original, content_type, "王芳 wang@okpay.cn 2026-12-06 20:15")
    with Image.open(io.BytesIO(original)) as before, Image.open(io.BytesIO(marked)) as after:
        assert after.format == fmt and after.size == before.size
        diff = ImageChops.difference(before.convert("RGB"), after.convert("RGB"))
        changed = diff.convert("L").point(lambda v: 255 if v > 24 else 0).histogram()[255]
    # Repeated across the picture, not one corner: many pixels, in every quarter.
    assert changed > 640 * 400 // 100
    for box in ((0, 0, 320, 200), (320, 0, 640, 200), (0, 200, 320, 400), (320, 200, 640, 400)):
        assert diff.crop(box).getbbox() is not None


def test_watermark_draws_chinese_with_a_cjk_font_when_installed() -> None:
    if not os.path.exists(watermark.CJK_FONTS[0]):
        if os.environ.get("CI"):
            pytest.fail("fonts-noto-cjk is not installed")
        pytest.skip("fonts-noto-cjk is not installed")
    assert "CJK" in watermark.watermark_font(20).getname()[0]


def test_watermark_without_a_cjk_font_falls_back_and_pdfs_are_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(watermark, "CJK_FONTS", ("/nonexistent/font.ttc",))
    original = photo()
    marked = files.watermark_image(original, "image/png", "Wang 2026-12-06 20:15")
    assert marked != original and Image.open(io.BytesIO(marked)).size == (320, 200)
    document = pdf()
    assert files.watermark_image(document, "application/pdf", "Wang") == document


# ------------------------------------------------------------------ retention


def test_purge_deletes_files_after_commit_and_downloads_answer_gone(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    auth, number = with_ticket(client, db)
    agent_id = make_staff(db, AGENT)
    sent = upload(client, auth, number, [("身份证.png", photo(), "image/png"),
                                         ("bank.pdf", pdf(), "application/pdf")])  # fmt: skip
    keys = [row.storage_key for row in rows(db)]
    paths = [files.storage_root() / key[:2] / key for key in keys]
    sign_in(client, "wang@example.com")
    assert f"/support/requests/{number}/files/" in client.get(f"/support/requests/{number}").text

    # A purge rolled back loses nothing.
    with pytest.raises(RuntimeError), db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        assert messages.do_purge_attachments(s, ticket=ticket, reason="retention") == 2
        raise RuntimeError("crash before commit")
    assert all(p.exists() for p in paths)
    assert all(row.purged_at is None for row in rows(db))
    assert client.get(sent[0]["url"], headers=auth).status_code == 200

    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        purged = messages.do_purge_attachments(
            s, ticket=ticket, reason="case closed 180 days ago", actor=user(s, agent_id)
        )
        assert purged == 2
        assert all(p.exists() for p in paths)  # not before the commit
    assert not any(p.exists() for p in paths)
    assert all(row.purged_at is not None for row in rows(db))
    with db.unit_of_work(write=False) as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "attachments_purged"))
        assert (event.object_id, event.actor_user_id) == (number, agent_id)
        assert event.data["count"] == 2 and event.data["reason"] == "case closed 180 days ago"
    # Again: nothing left to purge, no second audit row.
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        assert messages.do_purge_attachments(s, ticket=ticket, reason="retention") == 0
    with db.unit_of_work(write=False) as s:
        audited = s.scalars(select(AuditEvent).where(AuditEvent.action == "attachments_purged"))
        assert len(list(audited)) == 1

    gone = client.get(sent[0]["url"], headers=auth)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "attachment_deleted"
    assert "under our retention policy" in gone.json()["error"]["message"]
    zh = client.get(sent[1]["url"], headers={**auth, "Accept-Language": "zh-CN"})
    assert zh.status_code == 410 and "保留" in zh.json()["error"]["message"]
    read = client.get(f"/api/v1/support/tickets/{number}", headers=auth).json()
    listed = read["messages"][-1]["attachments"]
    assert [a["filename"] for a in listed] == ["身份证.png", "bank.pdf"]
    assert all(a["deleted_at"] for a in listed)

    # The customer's page still names the files, as deleted, without links.
    mine = client.get(f"/support/requests/{number}")
    assert mine.status_code == 200
    assert "身份证.png" in mine.text and "deleted on" in mine.text
    assert 'data-testid="attachment-deleted"' in mine.text
    assert f"/support/requests/{number}/files/" not in mine.text
    # So does the agent's, and the agent's download answers 410 too.
    client.cookies.clear()
    sign_in(client)
    page = client.get(f"/agent/tickets/{number}").text
    assert "身份证.png" in page and "deleted on" in page
    assert f"/agent/tickets/{number}/files/" not in page
    agent_get = client.get(f"/agent/tickets/{number}/files/{sent[0]['url'].rsplit('/', 1)[1]}")
    assert agent_get.status_code == 410


@pytest.mark.postgres_only
def test_two_purges_at_once_delete_and_audit_once(client, db) -> None:  # type: ignore[no-untyped-def]
    auth, number = with_ticket(client, db)
    upload(
        client, auth, number, [("a.png", photo(), "image/png"), ("b.pdf", pdf(), "application/pdf")]
    )
    start = threading.Barrier(2)
    counts: list[int] = []

    def purge() -> None:
        start.wait()
        with db.unit_of_work() as s:
            ticket = access.get_ticket(s, number)
            assert ticket is not None
            counts.append(messages.do_purge_attachments(s, ticket=ticket, reason="retention"))

    threads = [threading.Thread(target=purge) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(counts) == [0, 2]
    with db.unit_of_work(write=False) as s:
        audited = s.scalars(select(AuditEvent).where(AuditEvent.action == "attachments_purged"))
        assert len(list(audited)) == 1


def test_retention_setting_defaults_to_180_days(settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.evidence_retention_days == 180


# ------------------------------------------------------------------ never by e-mail


@pytest.mark.parametrize(
    ("locale", "says"),
    [
        ("en", "2 files: open your request to see them."),
        ("zh_CN", "2 个文件：请打开您的请求查看。"),
    ],
)
def test_reply_emails_link_to_the_request_and_never_carry_files(
    db, mailbox, locale: str, says: str
) -> None:  # type: ignore[no-untyped-def]
    from tests.support.helpers import open_ticket

    agent_id = make_staff(db, AGENT)
    number = open_ticket(db, locale=locale)
    checked = [files.check_upload("passport-zhang.png", photo()),
               files.check_upload("statement.pdf", pdf())]  # fmt: skip
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        messages.do_agent_reply(
            s, ticket=ticket, agent=user(s, agent_id), body="See the files", files=checked
        )
    mail = mailbox.last("lihua@example.com")
    parts = list(mail.walk())
    assert not any(part.get_content_disposition() == "attachment" for part in parts)
    assert {part.get_content_type() for part in parts} <= {
        "multipart/alternative", "text/plain", "text/html",
    }  # fmt: skip
    text = mailbox.text(mail)
    assert says in text
    assert f"http://testserver/support/requests/{number}" in text
    assert "passport-zhang" not in text and "statement.pdf" not in text


def test_staff_view_inline_with_a_watermark(db) -> None:  # type: ignore[no-untyped-def]
    from tests.support.helpers import open_ticket

    agent_id = make_staff(db, AGENT)
    number = open_ticket(db)
    checked = [files.check_upload("id.png", photo()), files.check_upload("id.pdf", pdf())]
    with db.unit_of_work() as s:
        ticket = access.get_ticket(s, number)
        assert ticket is not None
        messages.do_agent_reply(
            s, ticket=ticket, agent=user(s, agent_id), body="x", files=checked, internal=True
        )
        image, document = messages.list_attachments(s, ticket)
        plain = customer_module.download(image)
        viewed = customer_module.download(image, inline=True, watermark="Agent 2026-12-06 20:15")
        pdf_view = customer_module.download(document, inline=True, watermark="Agent")
    assert plain.headers["content-disposition"].startswith("attachment;")
    assert viewed.headers["content-disposition"].startswith("inline;")
    assert "frame-ancestors 'self'" in viewed.headers["content-security-policy"]
    assert viewed.body != plain.body
    with Image.open(io.BytesIO(bytes(viewed.body))) as shown:
        assert (shown.format, shown.size) == ("PNG", (320, 200))
    assert bytes(pdf_view.body) == checked[1].data
