"""Uploads under attack (issue 11): image bombs refused from their header, request bodies
capped before multipart parsing, PDFs parsed and refused when they carry active content."""

from __future__ import annotations

import asyncio
import io
import json
import re
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from okpay.core.i18n import use_locale
from okpay.support import files
from okpay.support.files import UploadRejected
from tests.support.helpers import pdf


def png_bomb(width: int, height: int) -> bytes:
    """A valid one-bit greyscale PNG of any size whose pixels are all black: a few kilobytes
    on the wire, ``width * height`` pixels once decoded."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the packed pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to decode pixels fails the test at once."""

    def refuse(self: ImageFile.ImageFile) -> None:
        raise AssertionError(f"pixels of a {self.size} image were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# ----------------------------------------------------------------------- item 8: bombs


def test_i11_item8_png_just_above_the_pixel_cap_is_refused_from_its_header(
    no_decoding: None,
) -> None:
    # 6,400 x 6,251 is 40,006,400 pixels: above the cap, below the 2x where Pillow refuses.
    bomb = png_bomb(6400, 6251)
    assert len(bomb) < 64 * 1024
    with pytest.raises(UploadRejected) as refused:
        files.check_upload("receipt.png", bomb)
    assert refused.value.code == "upload_image_too_large"
    with use_locale("zh_CN"):
        assert "图片" in refused.value.translated() and "receipt.png" in refused.value.translated()
    with use_locale("en"):
        assert "too large a picture" in refused.value.translated()


def test_i11_item8_far_above_the_cap_gets_the_same_answer(no_decoding: None) -> None:
    with pytest.raises(UploadRejected) as refused:
        files.check_upload("huge.png", png_bomb(20_000, 20_000))
    assert refused.value.code == "upload_image_too_large"


def test_i11_item8_the_cap_itself_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "MAX_PIXELS", 100 * 100)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after
    assert files.check_upload("at-cap.png", png_bomb(100, 100)).content_type == "image/png"
    with pytest.raises(UploadRejected) as refused:
        files.check_upload("one-row-more.png", png_bomb(100, 101))
    assert refused.value.code == "upload_image_too_large"


# ------------------------------------------------------------- item 10: request body cap

MiB = 1024 * 1024


class Sent:
    """What one raw ASGI request produced: the answer, and how much of the body was read."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.pulled = 0

    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.body)


def send_raw(  # type: ignore[no-untyped-def]
    app,
    path: str,
    *,
    total: int,
    declared: int | None = None,
    chunk: int = 64 * 1024,
    content_type: str = "multipart/form-data; boundary=x",
    language: str = "en",
) -> Sent:
    """POST ``total`` bytes to ``path`` the way a server hands them to the app: in chunks,
    with the given Content-Length (or none, as with chunked transfer encoding). A multipart
    body is one well-formed file part that never ends."""
    sent = Sent()
    start = (
        b'--x\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
        if content_type.startswith("multipart/")
        else b""
    )
    headers = [(b"content-type", content_type.encode()), (b"accept-language", language.encode())]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": headers, "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }  # fmt: skip

    async def receive() -> dict:  # type: ignore[type-arg]
        if sent.pulled >= total:
            await asyncio.sleep(3600)  # no more body: the client waits for the answer
        size = min(chunk, total - sent.pulled)
        body = (start + b"A" * size)[:size] if sent.pulled == 0 else b"A" * size
        sent.pulled += size
        return {"type": "http.request", "body": body, "more_body": sent.pulled < total}

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        if message["type"] == "http.response.start":
            sent.status = message["status"]
            sent.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            sent.body += message.get("body", b"")

    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=60))
    return sent


UPLOAD_PATH = "/api/v1/support/tickets/OK-2026-000001/files"


def test_i11_item10_a_declared_length_over_the_cap_is_refused_before_any_byte_is_read(
    app, settings
) -> None:  # type: ignore[no-untyped-def]
    huge = send_raw(app, UPLOAD_PATH, total=300 * MiB, declared=300 * MiB, language="zh-CN")
    assert huge.status == 413 and huge.pulled == 0
    error = huge.json()["error"]
    assert error["code"] == "request_too_large"
    assert "文件" in error["message"] and "51" in error["message"]
    assert huge.headers["connection"] == "close"
    assert huge.headers["x-content-type-options"] == "nosniff"
    # A plain form or JSON route has the smaller cap.
    login = send_raw(
        app, "/api/v1/auth/login", total=3 * MiB, declared=3 * MiB, content_type="application/json"
    )
    assert login.status == 413 and login.pulled == 0
    assert "at most 2" in login.json()["error"]["message"]


def test_i11_item10_a_body_without_length_is_cut_at_the_cap(app, settings) -> None:  # type: ignore[no-untyped-def]
    settings.upload_max_bytes = MiB
    settings.upload_max_files = 1
    cap = settings.upload_request_limit
    assert cap == 2 * MiB
    cut = send_raw(app, UPLOAD_PATH, total=300 * MiB)
    assert cut.status == 413 and cut.json()["error"]["code"] == "request_too_large"
    assert cut.pulled <= cap + 64 * 1024, "the server went on reading past the cap"


def test_i11_item10_a_lying_length_is_cut_at_the_cap(app, settings) -> None:  # type: ignore[no-untyped-def]
    lied = send_raw(
        app, "/api/v1/auth/login", total=50 * MiB, declared=100, content_type="application/json"
    )
    assert lied.status == 413
    assert lied.pulled <= settings.request_max_bytes + 64 * 1024


def test_i11_item10_pages_get_the_refusal_as_a_page_in_the_users_language(app, settings) -> None:  # type: ignore[no-untyped-def]
    page = send_raw(app, "/help/contact", total=80 * MiB, declared=80 * MiB, language="zh-CN")
    assert page.status == 413 and page.headers["content-type"].startswith("text/html")
    html = page.body.decode()
    assert "文件总大小超出限制：每次最多可发送 51 MB" in html
    # Under the cap the request goes on to the route as before (here: no CSRF token).
    small = send_raw(app, "/help/contact", total=4 * MiB, declared=4 * MiB)
    assert small.status == 403


def test_i11_item10_a_body_without_length_past_the_common_cap_goes_on_to_an_upload_route(  # type: ignore[no-untyped-def]
    app, settings
) -> None:
    """Counting a body without a length, the route is looked up once it passes the common
    cap: an upload route keeps reading up to its own cap."""
    page = send_raw(app, "/help/contact", total=4 * MiB)
    assert page.status == 403  # past the 2 MB common cap, read in full: refused for CSRF only
    assert page.pulled == 4 * MiB
    login = send_raw(app, "/api/v1/auth/login", total=4 * MiB, content_type="application/json")
    assert login.status == 413


def test_i11_item10_the_upload_routes_are_found_only_when_a_body_needs_them() -> None:
    """Finding them means FastAPI analysing every route (about a second): not for the many
    requests under the common cap, and once at most."""
    from fastapi import FastAPI

    from okpay.settings import Settings
    from okpay.web.middleware import BodyLimitMiddleware

    asked: list[int] = []

    def upload_routes() -> list[tuple[re.Pattern[str], set[str]]]:
        asked.append(1)
        return [(re.compile("^/files$"), {"POST"})]

    settings = Settings(env="test")
    app = FastAPI()
    app.state.settings = settings
    app.add_middleware(BodyLimitMiddleware, settings=settings, upload_routes=upload_routes)
    assert send_raw(app, "/files", total=MiB, declared=MiB).status == 404
    assert asked == []
    assert send_raw(app, "/files", total=5 * MiB, declared=5 * MiB).status == 404  # allowed
    assert send_raw(app, "/other", total=5 * MiB, declared=5 * MiB).status == 413
    assert asked == [1]


def test_i11_item10_every_route_taking_files_gets_the_upload_cap(app) -> None:  # type: ignore[no-untyped-def]
    from okpay.web.middleware import routes_taking_files

    found = {pattern.pattern for pattern, _methods in routes_taking_files(app.routes)}
    for path in (
        "/api/v1/support/tickets/OK-1/files",
        "/help/contact",
        "/support/feedback",
        "/support/requests/OK-1/messages",
        "/agent/tickets/OK-1/reply",
    ):
        assert any(re.match(p, path) for p in found), path
    assert not any(re.match(p, "/api/v1/auth/login") for p in found)


# ------------------------------------------------------------------- item 11: PDFs

JS = "<< /S /JavaScript /JS (app.alert(1)) >>"
ACTIVE = {
    "open action script": pdf(f"/OpenAction {JS}"),
    "document script": pdf(
        "/Names << /JavaScript 4 0 R >>", objects=("<< /Names [(a) 5 0 R] >>", JS)
    ),
    "names escaped with #": pdf("/OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >>"),
    "launch action": pdf("/OpenAction 4 0 R", objects=("<< /S /Launch /F (calc.exe) >>",)),
    "page opened action": pdf(page=f"/AA << /O {JS} >>"),
    "link that runs a script": pdf(
        page=f"/Annots [<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A {JS} >>]"
    ),
    "embedded file": pdf(
        "/Names << /EmbeddedFiles << /Names [(a.exe) 4 0 R] >> >>",
        objects=(
            "<< /Type /Filespec /F (a.exe) /EF << /F 5 0 R >> >>",
            "<< /Type /EmbeddedFile /Length 2 >>\nstream\nMZ\nendstream",
        ),
    ),
    "rich media": pdf(page="/Annots [<< /Type /Annot /Subtype /RichMedia /Rect [0 0 9 9] >>]"),
    "xfa form": pdf(
        "/AcroForm << /Fields [] /XFA 4 0 R >>",
        objects=("<< /Length 7 >>\nstream\n<xdp/> \nendstream",),
    ),
}


@pytest.mark.parametrize("kind", list(ACTIVE))
def test_i11_item11_pdfs_with_active_content_are_refused(kind: str) -> None:
    with pytest.raises(UploadRejected) as refused:
        files.check_upload("statement.pdf", ACTIVE[kind])
    assert refused.value.code == "upload_pdf_active_content"
    with use_locale("zh_CN"):
        assert "statement.pdf" in refused.value.translated()
        assert "脚本" in refused.value.translated()


def test_i11_item11_html_and_broken_files_behind_a_pdf_header_are_refused() -> None:
    html = b"%PDF-1.4\n<html><body><script>alert(document.cookie)</script></body></html>"
    with pytest.raises(UploadRejected) as as_html:
        files.check_upload("receipt.pdf", html)
    assert as_html.value.code == "upload_content_mismatch"
    no_catalog = pdf().replace(b"/Catalog", b"/Nothing")
    for broken in (b"%PDF-1.7\n" + b"x" * 2000, pdf()[:200], no_catalog):
        with pytest.raises(UploadRejected) as damaged:
            files.check_upload("receipt.pdf", broken)
        assert damaged.value.code == "upload_pdf_damaged"


def test_i11_item11_ordinary_pdfs_still_pass() -> None:
    from pypdf import PdfWriter

    link = "<< /S /URI /URI (https://bank.example/statement) >>"
    plain = files.check_upload("statement.pdf", pdf(pages=3))
    assert plain.content_type == "application/pdf" and plain.data == pdf(pages=3)
    with_link = pdf("/OpenAction [3 0 R /Fit]", page=f"/Annots [<< /Subtype /Link /A {link} >>]")
    assert files.check_upload("linked.pdf", with_link).content_type == "application/pdf"
    # Encrypted with an empty user password (print allowed, editing not), as banks send them.
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt("", "owner-password", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    assert files.check_upload("bank.pdf", out.getvalue()).filename == "bank.pdf"
    # One that needs a password to open cannot be checked, so it is refused.
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt("user-password", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(UploadRejected) as locked:
        files.check_upload("locked.pdf", out.getvalue())
    assert locked.value.code == "upload_pdf_encrypted"


def test_i11_item11_too_many_pages_or_objects_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "PDF_MAX_PAGES", 5)
    with pytest.raises(UploadRejected) as pages:
        files.check_upload("long.pdf", pdf(pages=6))
    assert pages.value.code == "upload_pdf_too_complex"
    assert files.check_upload("five.pdf", pdf(pages=5)).filename == "five.pdf"
    monkeypatch.setattr(files, "PDF_MAX_OBJECTS", 50)
    with pytest.raises(UploadRejected) as objects:
        files.check_upload("many.pdf", pdf(objects=tuple("<< /A 1 >>" for _ in range(60))))
    assert objects.value.code == "upload_pdf_too_complex"


def test_i11_item11_a_parse_that_does_not_finish_is_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stand-in for a file crafted to keep the parser busy: a scanner that never answers.
    monkeypatch.setattr(files, "_scan_command", lambda: [sys.executable, "-c", "while True: pass"])
    monkeypatch.setattr(files, "PDF_SCAN_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(UploadRejected) as stopped:
        files.check_upload("slow.pdf", pdf())
    assert stopped.value.code == "upload_pdf_too_complex"
    assert time.monotonic() - started < 5


def test_i11_item11_the_scanner_has_its_own_cpu_and_memory_caps() -> None:
    from okpay.support import pdfscan

    # The limits are set in the scanner process before it parses anything.
    code = (
        "import resource, sys; sys.path.insert(0, sys.argv[1]); import pdfscan; "
        "pdfscan._limit(3, 512 * 1024 * 1024); "
        "print(resource.getrlimit(resource.RLIMIT_CPU)[0], "
        "resource.getrlimit(resource.RLIMIT_AS)[0])"
    )
    folder = str(Path(pdfscan.__file__).parent)
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, folder], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["3", str(512 * 1024 * 1024)]
    assert "-I" in files._scan_command()


def test_i11_item11_refused_pdfs_through_the_api_store_nothing(client, db, settings) -> None:  # type: ignore[no-untyped-def]
    from okpay.support.models import TicketAttachment
    from tests.support.test_customer_api import NEW, count, customer

    auth = customer(client, db)
    number = client.post("/api/v1/support/tickets", json=NEW, headers=auth).json()["number"]
    refused = client.post(
        f"/api/v1/support/tickets/{number}/files",
        files=[("files", ("statement.pdf", ACTIVE["open action script"], "application/pdf"))],
        headers={**auth, "Accept-Language": "zh-CN"},
    )
    assert refused.status_code == 422
    assert "statement.pdf" in refused.json()["error"]["message"]
    assert "脚本" in refused.json()["error"]["message"]
    assert count(db, TicketAttachment) == 0
