"""Inspect one PDF for active content, in a process of its own.

Run as ``python -I pdfscan.py MAX_PAGES MAX_OBJECTS CPU_SECONDS MEMORY_BYTES`` with the file
on standard input; prints one JSON line ``{"verdict": ..., "detail": ...}``. The parent
(support/files.py) kills it after a wall-clock timeout; the limits set here stop a crafted
file from taking more CPU or memory than that even if the parent is slow to notice.

Verdicts: ``ok``; ``active`` (scripts, automatic or launch actions, embedded files, rich
media, XFA forms); ``encrypted`` (needs a password); ``html`` (HTML markup in the first bytes,
where a browser sniffing the type would look); ``malformed`` (not a document a reader can open);
``too_complex`` (more pages or objects than we check).

Imports nothing from okpay: it runs isolated (-I), with only the standard library and pypdf.
"""

from __future__ import annotations

import io
import json
import re
import resource
import sys
from typing import Any

# Keys that only appear in dictionaries of active content: document and page scripts,
# additional (automatic) actions, embedded files, Flash/3D rich media, XFA forms.
FORBIDDEN_KEYS = {
    "/JavaScript",
    "/JS",
    "/AA",
    "/Launch",
    "/EmbeddedFile",
    "/EmbeddedFiles",
    "/RichMedia",
    "/RichMediaContent",
    "/RichMediaSettings",
    "/XFA",
}
# Action types (/S), object types (/Type) and annotation subtypes (/Subtype) that run
# something, reach outside the file or carry another file. Links to web pages (/URI) and
# jumps inside the document (/GoTo) stay allowed: bank statements have them.
FORBIDDEN_TYPES = {
    "/JavaScript",
    "/Launch",
    "/SubmitForm",
    "/ImportData",
    "/GoToE",
    "/GoToR",
    "/Rendition",
    "/Movie",
    "/Sound",
    "/RichMedia",
    "/RichMediaExecute",
    "/EmbeddedFile",
    "/FileAttachment",
    "/Filespec",
    "/Screen",
    "/3D",
}
TYPE_KEYS = ("/S", "/Type", "/Subtype")
# An HTML document behind a PDF header: a browser that sniffs looks at the first bytes. (Past
# them, compressed streams are random bytes that would match short markers now and then; the
# parse below refuses what is not a PDF, and files are served as downloads with nosniff.)
HTML_MARKERS = re.compile(rb"<\s*(?:html|script|body|iframe|svg)\b|<!doctype\s+html", re.I)
SNIFFED_BYTES = 1024


def _limit(cpu_seconds: int, memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _answer(verdict: str, detail: str = "") -> None:
    sys.stdout.write(json.dumps({"verdict": verdict, "detail": detail[:200]}) + "\n")
    sys.stdout.flush()


def _active(value: Any, seen: set[int], depth: int = 0) -> str | None:
    """The first sign of active content in ``value`` and what it contains directly (indirect
    references are checked on their own, from the cross-reference table)."""
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

    if depth > 64 or id(value) in seen:
        return None
    seen.add(id(value))
    if isinstance(value, DictionaryObject):
        for key, item in value.items():
            if key in FORBIDDEN_KEYS:
                return str(key)
            if key in TYPE_KEYS and isinstance(item, NameObject) and item in FORBIDDEN_TYPES:
                return f"{key} {item}"
            if key == "/OpenAction":
                action = item.get_object() if isinstance(item, IndirectObject) else item
                # A destination (an array) only opens a page; an action dictionary other than
                # a jump inside the document runs something when the file opens.
                if isinstance(action, DictionaryObject) and action.get("/S") != "/GoTo":
                    return f"/OpenAction {action.get('/S')}"
            if not isinstance(item, IndirectObject):
                found = _active(item, seen, depth + 1)
                if found:
                    return found
    elif isinstance(value, ArrayObject):
        for item in value:
            if not isinstance(item, IndirectObject):
                found = _active(item, seen, depth + 1)
                if found:
                    return found
    return None


def scan(data: bytes, *, max_pages: int, max_objects: int) -> tuple[str, str]:
    """The verdict on ``data`` and a short detail for the log."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError
    from pypdf.generic import DictionaryObject, IndirectObject

    if not data.startswith(b"%PDF-"):
        return "malformed", "no PDF header"
    if HTML_MARKERS.search(data[:SNIFFED_BYTES]):
        return "html", "HTML markup in the file"
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many statements are encrypted with an empty user password (printing allowed,
            # editing not): those open without asking, so we can and must look inside.
            try:
                if not reader.decrypt(""):
                    return "encrypted", "needs a password"
            except (FileNotDecryptedError, NotImplementedError) as exc:
                return "encrypted", str(exc)
        numbers = {num for entries in reader.xref.values() for num in entries}
        numbers |= set(reader.xref_objStm)
        size = reader.trailer.get("/Size", 0)
        if len(numbers) > max_objects or (isinstance(size, int) and size > max_objects):
            return "too_complex", f"{max(len(numbers), int(size))} objects"
        root = reader.trailer.get("/Root")
        catalog = root.get_object() if root is not None else None
        if not isinstance(catalog, DictionaryObject) or catalog.get("/Type") != "/Catalog":
            return "malformed", "no document catalogue"
        pages = len(reader.pages)
        if pages < 1:
            return "malformed", "no pages"
        if pages > max_pages:
            return "too_complex", f"{pages} pages"
        seen: set[int] = set()
        for where, value in (("trailer", reader.trailer), ("catalog", catalog)):
            found = _active(value, seen)
            if found:
                return "active", f"{found} in the {where}"
        for num in sorted(numbers):
            generation = next((g for g, e in reader.xref.items() if num in e), 0)
            obj = reader.get_object(IndirectObject(num, generation, reader))
            found = _active(obj, seen)
            if found:
                return "active", f"{found} in object {num}"
    except MemoryError:
        return "too_complex", "out of memory"
    except RecursionError:
        return "too_complex", "nested too deeply"
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        return "malformed", f"{type(exc).__name__}: {exc}"
    return "ok", f"{pages} pages"


def main(argv: list[str]) -> int:
    max_pages, max_objects, cpu_seconds, memory_bytes = (int(a) for a in argv[1:5])
    data = sys.stdin.buffer.read()
    _limit(cpu_seconds, memory_bytes)
    try:
        verdict, detail = scan(data, max_pages=max_pages, max_objects=max_objects)
    except MemoryError:
        verdict, detail = "too_complex", "out of memory"
    except Exception as exc:  # a parser bug on a crafted file: refuse the file, say why
        verdict, detail = "malformed", f"{type(exc).__name__}: {exc}"
    _answer(verdict, detail)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
