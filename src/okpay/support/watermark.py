"""Watermarks on evidence images: who viewed a document and when, drawn across it, so that
a photo or screenshot of a displayed identity document shows who leaked it."""

from __future__ import annotations

import io
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

# Fonts with Chinese glyphs, best first (Debian's fonts-noto-cjk, then common fallbacks).
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
WATERMARKED_TYPES = ("image/png", "image/jpeg")


def watermark_font(size: int) -> Any:
    """A font of ``size`` pixels that draws Chinese: the first of CJK_FONTS found (its
    Simplified Chinese face in a collection), else Pillow's built-in font, which draws Latin
    letters and digits only."""
    from PIL import ImageFont

    for path in CJK_FONTS:
        if not os.path.exists(path):
            continue
        try:
            faces = [ImageFont.truetype(path, size, index=i) for i in range(_faces(path))]
        except OSError:
            continue
        for face in faces:
            if "SC" in (face.getname()[0] or "").split():
                return face
        return faces[0]
    log.warning("no CJK font found (install fonts-noto-cjk): watermarks drop Chinese")
    return ImageFont.load_default(size=size)


def _faces(path: str) -> int:
    """How many faces a font file holds (a .ttc collection holds several)."""
    with open(path, "rb") as font:
        head = font.read(12)
    return int.from_bytes(head[8:12], "big") if head[:4] == b"ttcf" else 1


def watermark_image(data: bytes, content_type: str, text: str) -> bytes:
    """The image with ``text`` (who views it and when, e.g. "王芳 wang@okpay.cn
    2026-12-06 20:15" in the viewer's local time: the caller writes it) drawn across it,
    semi-transparent, diagonal and repeated, so a photo or screenshot of a displayed identity
    document shows who leaked it. The size and the type (PNG or JPEG) are kept.

    Anything else (PDF documents) comes back unchanged: nothing is drawn on PDFs, and the
    caller's audit row of the download is their only trace."""
    if content_type not in WATERMARKED_TYPES:
        return data
    from PIL import Image, ImageDraw

    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        has_alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
        img = opened.convert("RGBA")
    text = text[:200]
    width, height = img.size
    size = max(12, min(width, height) // 22)
    font = watermark_font(size)
    # One line of text on a transparent tile, turned 30°, then laid over the image in a grid.
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font, stroke_width=1)
    tile_size = (int(right - left) + 2 * size, int(bottom - top) + size)
    tile = Image.new("RGBA", tile_size, (0, 0, 0, 0))
    ImageDraw.Draw(tile).text(
        (size - left, size // 2 - top), text, font=font, fill=(70, 70, 70, 110),
        stroke_width=1, stroke_fill=(255, 255, 255, 110),
    )  # fmt: skip
    tile = tile.rotate(30, expand=True, resample=Image.Resampling.BICUBIC)
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    step_x, step_y = max(1, tile.width), max(1, tile.height // 2 + size)
    for row, y in enumerate(range(-tile.height // 2, height, step_y)):
        shift = (row % 2) * step_x // 2
        for x in range(-step_x + shift, width, step_x):
            overlay.paste(tile, (x, y), tile)
    # A small image can fall between the grid's lines: one more copy over its centre.
    overlay.paste(tile, ((width - tile.width) // 2, (height - tile.height) // 2), tile)
    marked = Image.alpha_composite(img, overlay)
    out = io.BytesIO()
    if content_type == "image/jpeg":
        marked.convert("RGB").save(out, "JPEG", quality=90)
    else:
        (marked if has_alpha else marked.convert("RGB")).save(out, "PNG")
    return out.getvalue()
