"""Draw OKPay's mark (an open ring with a check running out of it, white on the brand
colour) as SVG and as the PNG icons the web app manifest, iOS and browsers ask for.

    PYTHONPATH=src python tools/make_icons.py

Writes src/okpay/web/static/img/{mark.svg, logo.svg, icon-*.png, apple-touch-icon.png,
favicon-32.png}. The PNGs are drawn with Pillow from the same geometry as the SVG (Pillow
cannot read SVG), at four times the size and scaled down for smooth edges, then reduced
to a small palette so they stay a few kilobytes each."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "src" / "okpay" / "web" / "static" / "img"

BRAND = "#0f766e"  # white text on it: 5.5:1
WHITE = "#ffffff"

# The mark in a 64-unit box.
BOX = 64
RADIUS = 14  # corner radius of the tile
RING_R, RING_W = 17.0, 6.0
GAP_FROM, GAP_TO = 280.0, 354.0  # degrees, clockwise from three o'clock: the ring's opening
CHECK = [(22.5, 32.5), (29.5, 39.5), (47.0, 18.0)]
CHECK_W = 6.0


def _point(angle: float, r: float = RING_R, c: float = BOX / 2) -> tuple[float, float]:
    a = math.radians(angle)
    return c + r * math.cos(a), c + r * math.sin(a)


def mark_paths(dx: float = 0, dy: float = 0, scale: float = 1) -> str:
    """The ring and the check as SVG elements, moved and scaled."""

    def p(x: float, y: float) -> str:
        return f"{dx + x * scale:.2f} {dy + y * scale:.2f}"

    start, end = _point(GAP_TO), _point(GAP_FROM)
    r = RING_R * scale
    ring = f'<path d="M {p(*start)} A {r:.2f} {r:.2f} 0 1 1 {p(*end)}"/>'
    check = '<path d="M ' + " L ".join(p(x, y) for x, y in CHECK) + '"/>'
    return (
        f'<g fill="none" stroke="{WHITE}" stroke-linecap="round" stroke-linejoin="round" '
        f'stroke-width="{RING_W * scale:.2f}">{ring}{check}</g>'
    )


def mark_svg() -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {BOX} {BOX}" width="{BOX}" '
        f'height="{BOX}" role="img" aria-label="OKPay">'
        f'<rect width="{BOX}" height="{BOX}" rx="{RADIUS}" fill="{BRAND}"/>'
        f"{mark_paths()}</svg>\n"
    )


def logo_svg() -> str:
    """The mark and the wordmark side by side (for e-mails and pages that want both)."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 232 64" width="232" height="64" '
        'role="img" aria-label="OKPay">'
        f'<rect width="{BOX}" height="{BOX}" rx="{RADIUS}" fill="{BRAND}"/>{mark_paths()}'
        f'<text x="78" y="45" fill="{BRAND}" font-size="40" font-weight="700" '
        "font-family=\"-apple-system, 'Segoe UI', Roboto, 'Noto Sans', Arial, sans-serif\" "
        'letter-spacing="-0.5">OKPay</text></svg>\n'
    )


def _draw_mark(size: int, *, full_bleed: bool, inset: float = 0.0) -> Image.Image:
    """The mark at ``size`` pixels. ``full_bleed`` fills the square (maskable and iOS icons
    are cut to shape by the system); ``inset`` shrinks the ring and check toward the middle
    (the maskable safe zone is the central 80%)."""
    big = size * 4
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    unit = big / BOX
    if full_bleed:
        draw.rectangle((0, 0, big, big), fill=BRAND)
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=RADIUS * unit, fill=BRAND)
    scale = unit * (1 - inset)
    offset = big / 2 - (BOX / 2) * scale

    def at(x: float, y: float) -> tuple[float, float]:
        return offset + x * scale, offset + y * scale

    width = RING_W * scale
    centre = at(BOX / 2, BOX / 2)
    r = RING_R * scale
    box = (
        centre[0] - r - width / 2,
        centre[1] - r - width / 2,
        centre[0] + r + width / 2,
        centre[1] + r + width / 2,
    )
    draw.arc(box, start=GAP_TO, end=GAP_FROM + 360, fill=WHITE, width=round(width))
    points = [at(x, y) for x, y in CHECK]
    draw.line(points, fill=WHITE, width=round(CHECK_W * scale), joint="curve")
    # Round caps: the ring's two ends and the check's two ends.
    for x, y in [_point(GAP_TO), _point(GAP_FROM), CHECK[0], CHECK[-1]]:
        cx, cy = at(x, y)
        half = width / 2
        draw.ellipse((cx - half, cy - half, cx + half, cy + half), fill=WHITE)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def _save_png(img: Image.Image, path: Path, *, opaque: bool) -> None:
    if opaque:
        flat = Image.new("RGB", img.size, BRAND)
        flat.paste(img, mask=img.getchannel("A"))
        flat.quantize(colors=32).save(path, optimize=True)
    else:
        img.quantize(colors=64, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "mark.svg").write_text(mark_svg(), encoding="utf-8")
    (OUT / "logo.svg").write_text(logo_svg(), encoding="utf-8")
    _save_png(_draw_mark(192, full_bleed=False), OUT / "icon-192.png", opaque=False)
    _save_png(_draw_mark(512, full_bleed=False), OUT / "icon-512.png", opaque=False)
    _save_png(
        _draw_mark(512, full_bleed=True, inset=0.22), OUT / "icon-maskable-512.png", opaque=True
    )
    _save_png(
        _draw_mark(180, full_bleed=True, inset=0.12), OUT / "apple-touch-icon.png", opaque=True
    )
    _save_png(_draw_mark(32, full_bleed=False), OUT / "favicon-32.png", opaque=False)
    for path in sorted(OUT.iterdir()):
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
