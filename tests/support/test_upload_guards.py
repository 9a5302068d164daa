"""Uploads under attack (issue 11): image bombs refused from their header, request bodies
capped before multipart parsing, PDFs parsed and refused when they carry active content."""

from __future__ import annotations

import struct
import zlib

import pytest
from PIL import ImageFile

from okpay.core.i18n import use_locale
from okpay.support import files
from okpay.support.files import UploadRejected


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
    assert files.check_upload("at-cap.png", png_bomb(100, 100)).content_type == "image/png"
    with pytest.raises(UploadRejected) as refused:
        files.check_upload("one-row-more.png", png_bomb(100, 101))
    assert refused.value.code == "upload_image_too_large"
