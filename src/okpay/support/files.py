"""Ticket attachments: checked by content and name, images re-encoded, stored under names we
generate, served only as downloads.

Accepted: PNG, JPEG, GIF and WebP images (re-encoded, which drops EXIF such as a phone's
location, and anything hidden after the image data) and PDF documents (parsed in a process of
their own, see pdfscan.py, and refused when they carry scripts, automatic actions, embedded
files, rich media or XFA forms). A file whose content does not match its extension is refused,
whatever the browser said its type was.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import N_, format_size
from okpay.core.security import derive_key
from okpay.settings import get_settings
from okpay.support import watermark

IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
               "gif": "image/gif", "webp": "image/webp"}  # fmt: skip
DOCUMENT_TYPES = {"pdf": "application/pdf"}
ACCEPT = ",".join(f".{ext}" for ext in [*IMAGE_TYPES, *DOCUMENT_TYPES])
# What Pillow calls each format, and the extensions that may carry it.
_PIL_FORMATS = {"PNG": {"png"}, "JPEG": {"jpg", "jpeg"}, "GIF": {"gif"}, "WEBP": {"webp"}}
MAX_PIXELS = 40_000_000  # a screenshot of a 8K screen is 33 MP; more is a decompression bomb
# PDFs: what the scanner process may take. A year of monthly statements is well under the page
# cap; a crafted file that would keep a parser busy is stopped by the time and memory caps.
PDF_MAX_PAGES = 500
PDF_MAX_OBJECTS = 20_000
PDF_SCAN_SECONDS = 10.0  # wall clock, then the scanner is killed
PDF_SCAN_CPU_SECONDS = 8
PDF_SCAN_MEMORY = 768 * 1024 * 1024
# At most this many scanners at once per app process, so a burst of PDFs queues instead of
# taking every core.
_PDF_SCANS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))

log = logging.getLogger(__name__)


class UploadRejected(ValidationFailed):
    code = "upload_rejected"


@dataclass(frozen=True)
class CheckedFile:
    """An upload that passed the checks, ready to store."""

    filename: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def clean_filename(raw: str) -> str:
    """A file name safe to show and to put in a header: no path, no control characters,
    at most 120 characters, the extension kept."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"[\"<>|:*?]", "_", name).strip(" .")
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 119 - len(ext)] + dot + ext) if dot and len(ext) <= 8 else name[:120]
    return name or "file"


def _extension(filename: str) -> str:
    return filename.rpartition(".")[2].lower() if "." in filename else ""


def check_upload(filename: str, data: bytes) -> CheckedFile:
    """Validate one upload; UploadRejected (with the reason, in the user's language) otherwise."""
    name = clean_filename(filename)
    limit = get_settings().upload_max_bytes
    if len(data) > limit:
        raise UploadRejected(
            N_("“%(name)s” is too large: files can be up to %(limit)s."),
            code="upload_too_large",
            name=name,
            limit=format_size(limit),
        )
    if not data:
        raise UploadRejected(N_("“%(name)s” is empty."), code="upload_empty", name=name)
    ext = _extension(name)
    if ext in DOCUMENT_TYPES:
        if not data.startswith(b"%PDF-"):
            raise _disguised(name)
        _check_pdf(name, data)
        return CheckedFile(name, DOCUMENT_TYPES[ext], data)
    if ext in IMAGE_TYPES:
        return _reencode(name, ext, data)
    raise UploadRejected(
        N_(
            "“%(name)s” is not a file type we accept. "
            "Please send images (PNG, JPEG, GIF, WebP) or PDF documents."
        ),
        code="upload_type_not_allowed",
        name=name,
    )


def check_stream(filename: str, stream: BinaryIO) -> CheckedFile:
    """check_upload() for a file being received: reads at most the size limit plus one
    byte, so an oversized upload is refused without being read whole."""
    return check_upload(filename, stream.read(get_settings().upload_max_bytes + 1))


def _disguised(name: str) -> UploadRejected:
    return UploadRejected(
        N_("“%(name)s” does not contain what its name says. Please send the original file."),
        code="upload_content_mismatch",
        name=name,
    )


def _scan_command() -> list[str]:
    """The scanner, run isolated (-I: no environment variables, no user site, no current
    directory on the path) with only the standard library and pypdf."""
    script = Path(__file__).with_name("pdfscan.py")
    limits = [PDF_MAX_PAGES, PDF_MAX_OBJECTS, PDF_SCAN_CPU_SECONDS, PDF_SCAN_MEMORY]
    return [sys.executable, "-I", str(script), *(str(n) for n in limits)]


def _scan_pdf(data: bytes) -> tuple[str, str]:
    """Run the scanner on ``data``: its verdict and detail (see pdfscan.py)."""
    # Nothing of ours in the scanner's environment: it reads hostile input.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR")}
    try:
        with _PDF_SCANS:
            done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
                _scan_command(),
                input=data,
                capture_output=True,
                timeout=PDF_SCAN_SECONDS,
                check=False,
                env=env,
            )
    except subprocess.TimeoutExpired:  # run() has killed it
        return "too_complex", f"no verdict within {PDF_SCAN_SECONDS} s"
    if done.returncode < 0:  # killed by its CPU or memory limit
        return "too_complex", f"stopped by signal {-done.returncode}"
    try:
        answer = json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1])
        return str(answer["verdict"]), str(answer.get("detail", ""))
    except (ValueError, IndexError, KeyError, TypeError):
        log.error("PDF scanner failed (%s): %s", done.returncode, done.stderr[-2000:])
        return "unchecked", "the scanner gave no verdict"


def _check_pdf(name: str, data: bytes) -> None:
    """Parse the PDF (in another process, bounded in time and memory) and refuse one that is
    not a readable document or that carries active content."""
    verdict, detail = _scan_pdf(data)
    if verdict == "ok":
        return
    log.info("PDF upload refused: %s (%s)", verdict, detail)
    if verdict == "html":
        raise _disguised(name)
    if verdict == "active":
        raise UploadRejected(
            N_(
                "“%(name)s” contains scripts, attached files or actions that run by "
                "themselves, which we do not accept for your safety. Please save it again "
                "with “Print to PDF”, or send a screenshot."
            ),
            code="upload_pdf_active_content",
            name=name,
        )
    if verdict == "encrypted":
        raise UploadRejected(
            N_("“%(name)s” is protected by a password. Please send a copy without a password."),
            code="upload_pdf_encrypted",
            name=name,
        )
    if verdict == "too_complex":
        raise UploadRejected(
            N_(
                "“%(name)s” is too large or too complex to check (at most %(pages)s pages). "
                "Please send only the pages we need."
            ),
            code="upload_pdf_too_complex",
            name=name,
            pages=PDF_MAX_PAGES,
        )
    if verdict == "malformed":
        raise UploadRejected(
            N_(
                "“%(name)s” is damaged or is not a PDF document a reader can open. "
                "Please send the original file."
            ),
            code="upload_pdf_damaged",
            name=name,
        )
    raise UploadRejected(
        N_("We could not check “%(name)s” just now. Please try again in a few minutes."),
        code="upload_pdf_unchecked",
        name=name,
    )


def _too_many_pixels(name: str) -> UploadRejected:
    return UploadRejected(
        N_(
            "“%(name)s” is too large a picture: images can have up to %(limit)s pixels "
            "(a screenshot or a phone photo is fine)."
        ),
        code="upload_image_too_large",
        name=name,
        limit=f"{MAX_PIXELS:,}",
    )


def _reencode(name: str, ext: str, data: bytes) -> CheckedFile:
    """Decode the image and write it again: only pixels survive (no EXIF, no trailing data)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    # Pillow's own guard only warns between 1x and 2x its limit and refuses above 2x; ours
    # below is exact, this stays as a second line should the header check ever be bypassed.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        # open() reads only the header: the size is known before a single pixel is decoded.
        with Image.open(io.BytesIO(data)) as opened:
            img: Image.Image = opened
            if ext not in _PIL_FORMATS.get(opened.format or "", set()):
                raise _disguised(name)
            if opened.width * opened.height > MAX_PIXELS:
                raise _too_many_pixels(name)
            img.load()
            # Keep the picture the right way up once the orientation tag is gone.
            img = ImageOps.exif_transpose(img) or img
            out = io.BytesIO()
            if ext in ("jpg", "jpeg"):
                img.convert("RGB").save(out, "JPEG", quality=90)
                content_type = "image/jpeg"
            else:
                if img.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                    img = img.convert("RGBA")
                img.save(out, "PNG", optimize=False)
                content_type = "image/png"
                name = name.rpartition(".")[0] + ".png"
    except Image.DecompressionBombError as exc:
        # Above twice the limit Pillow refuses in open(), before we see the size.
        raise _too_many_pixels(name) from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise _disguised(name) from exc
    return CheckedFile(name, content_type, out.getvalue())


def storage_root() -> Path:
    return get_settings().data_dir / "attachments"


def new_storage_key() -> str:
    return secrets.token_hex(20)


# ------------------------------------------------------------------ encryption at rest
#
# Every stored file is sealed with AES-256-GCM under a key derived from OKPAY_SECRET_KEY:
# any file a customer sends may be an identity document. Layout on disk:
#   MAGIC (4 bytes) | version (1 byte) | nonce (12 bytes) | ciphertext and 16-byte tag
# The storage key is authenticated with it (associated data), so a sealed file moved or
# copied under another key does not open. Files written before encryption (plain) start
# with what check_upload lets in (PNG, JPEG, GIF, WebP, PDF signatures), never with MAGIC:
# they still load, and `okpay support encrypt-attachments` seals them.
# Changing OKPAY_SECRET_KEY makes sealed files unreadable: keep the key as long as the files.

_MAGIC = b"\x00OKE"
_VERSION = 1
_NONCE_BYTES = 12


class StoredFileDamaged(DomainError):
    """A stored file failed its integrity check (altered on disk, or the secret key changed):
    nothing of it is served."""

    code = "attachment_damaged"
    status = 500
    message = N_(
        "This file cannot be opened: it was damaged in storage. Our team has been told; "
        "please send it again if we ask you to."
    )


def _cipher() -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(derive_key(b"okpay attachment at rest"))


def _header() -> bytes:
    return _MAGIC + bytes([_VERSION])


def seal(key: str, data: bytes) -> bytes:
    """``data`` encrypted and authenticated for storage under ``key``."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    header = _header()
    return header + nonce + _cipher().encrypt(nonce, data, header + key.encode())


def is_sealed(raw: bytes) -> bool:
    """Whether ``raw`` (a file as stored) was written encrypted."""
    return raw.startswith(_MAGIC)


def unseal(key: str, raw: bytes) -> bytes:
    """The plaintext of a stored file; plain files from before encryption come back as they
    are. StoredFileDamaged when a sealed file does not authenticate."""
    from cryptography.exceptions import InvalidTag

    if not is_sealed(raw):
        return raw
    header = raw[: len(_MAGIC) + 1]
    if header != _header():
        log.error("attachment %s: unknown storage version %r", key, header[len(_MAGIC) :])
        raise StoredFileDamaged()
    nonce = raw[len(header) : len(header) + _NONCE_BYTES]
    try:
        return bytes(
            _cipher().decrypt(nonce, raw[len(header) + _NONCE_BYTES :], header + key.encode())
        )
    except (InvalidTag, ValueError) as exc:
        log.error("attachment %s failed its integrity check (altered, or the key changed)", key)
        raise StoredFileDamaged() from exc


def store(key: str, data: bytes) -> None:
    """Write a file, encrypted, under its generated key (two-level fan-out keeps directories
    small)."""
    _write(_path(key), seal(key, data))


def _write(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(raw)
    tmp.replace(path)


def load(key: str, *, sha256: str | None = None) -> bytes:
    """The plaintext of the file stored under ``key``. With ``sha256`` (the row's), the
    content is also checked against it, which catches a plain file swapped on disk.
    StoredFileDamaged when either check fails; OSError when the file is missing."""
    data = unseal(key, _path(key).read_bytes())
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        log.error("attachment %s does not match its recorded SHA-256", key)
        raise StoredFileDamaged()
    return data


def remove(key: str) -> None:
    _path(key).unlink(missing_ok=True)


def stored_keys() -> Iterator[str]:
    """The keys of every file under storage_root() (ticket files and parked form files)."""
    root = storage_root()
    if not root.is_dir():
        return
    for path in sorted(root.glob("*/*")):
        if path.is_file() and _KEY.fullmatch(path.name) and path.parent.name == path.name[:2]:
            yield path.name


def encrypt_stored_files() -> tuple[int, int]:
    """Seal every plain file left from before encryption; (sealed now, already sealed).
    Safe to run again, and while the app runs (each file is replaced atomically)."""
    sealed = already = 0
    for key in stored_keys():
        path = _path(key)
        raw = path.read_bytes()
        if is_sealed(raw):
            already += 1
            continue
        _write(path, seal(key, raw))
        sealed += 1
    return sealed, already


_KEY = re.compile(r"[0-9a-f]{40}")


def _path(key: str) -> Path:
    if not _KEY.fullmatch(key):
        raise ValueError("not a storage key")
    return storage_root() / key[:2] / key


def watermark_image(data: bytes, content_type: str, text: str) -> bytes:
    """The image with ``text`` (who views it and when, in the viewer's local time: the caller
    writes it) drawn across it, semi-transparent, diagonal and repeated; size and type (PNG or
    JPEG) kept. PDF documents come back unchanged: nothing is drawn on them, and the caller's
    audit row of the download is their only trace. See watermark.py."""
    return watermark.watermark_image(data, content_type, text)
