"""Operation references are numbered, so two operations never share one (issue 11 item 15)."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

from okpay.core import ids
from okpay.wallet import references

SHAPE = re.compile(rf"^TX-\d{{8}}-[{ids.ALPHABET}]{{10}}$")


def test_i11_item15_references_never_clash(db, clock) -> None:  # type: ignore[no-untyped-def]
    """100,000 operations on one day (where six random characters clash about five times)
    get 100,000 different references of the readable shape, each with a check character;
    the numbers behind them come from the database, on either database."""
    seen: set[str] = set()
    with db.unit_of_work() as s:
        for _ in range(99):
            seen.update(references.new_references(s, 1000))
        for _ in range(1000):
            seen.add(references.new_reference(s))
    assert len(seen) == 100_000
    assert all(SHAPE.match(r) and r[3:11] == "20261121" for r in seen)
    assert all(ids.reference_is_well_formed(r) for r in seen)


def test_i11_item15_the_number_mapping_is_one_to_one() -> None:
    """Different numbers always spell different references: the scrambling is a
    permutation, at the start, the middle and the very end of the range."""
    regions = [range(0, 60_000), range(ids.NUMBER_SPACE // 2, ids.NUMBER_SPACE // 2 + 60_000)]
    regions.append(range(ids.NUMBER_SPACE - 60_000, ids.NUMBER_SPACE))
    values = [ids.scramble(n) for region in regions for n in region]
    assert len(set(values)) == len(values)
    assert all(0 <= v < ids.NUMBER_SPACE for v in values)
    assert ids.scramble(1) != 1 + ids.scramble(0)  # neighbours do not look like neighbours


def test_i11_item15_the_check_character_catches_typos() -> None:
    reference = ids.numbered_reference("TX", 123_456_789)
    assert ids.reference_is_well_formed(reference)
    head, tail = reference[:12], reference[12:]
    for i, ch in enumerate(tail):
        for other in ids.ALPHABET:
            if other != ch:
                typo = head + tail[:i] + other + tail[i + 1 :]
                assert not ids.reference_is_well_formed(typo), typo
    for i in range(len(tail) - 1):
        if tail[i] != tail[i + 1]:
            swapped = head + tail[:i] + tail[i + 1] + tail[i] + tail[i + 2 :]
            assert not ids.reference_is_well_formed(swapped), swapped
    assert ids.reference_is_well_formed("TX-20261121-7QK3M9")  # the older shape still reads


def test_i11_item15_parallel_processes_never_share_numbers(db) -> None:  # type: ignore[no-untyped-def]
    """Threads drawing at once, and a process that starts afresh (its cached block of
    numbers forgotten), never get a number twice."""
    start = threading.Barrier(6)

    def draw(_i: int) -> list[str]:
        start.wait()
        got: list[str] = []
        for _ in range(20):
            with db.unit_of_work() as s:
                got += references.new_references(s, 150)
        return got

    with ThreadPoolExecutor(max_workers=6) as pool:
        drawn = [r for chunk in pool.map(draw, range(6)) for r in chunk]
    references._blocks.clear()  # as a new process would start
    with db.unit_of_work() as s:
        drawn += references.new_references(s, 2500)
    assert len(set(drawn)) == len(drawn) == 6 * 20 * 150 + 2500


def test_i11_item15_support_tickets_take_both_shapes_and_catch_typos() -> None:
    """A ticket's transaction references: numbered ones and the older six-character ones
    are taken; a numbered one with a mistyped character is refused at once."""
    import pytest

    from okpay.core.errors import ValidationFailed
    from okpay.support import checks

    numbered = ids.numbered_reference("TX", 7)
    typo = numbered[:-2] + ("A" if numbered[-2] != "A" else "B") + numbered[-1]
    assert checks.check_references(f"{numbered.lower()}, TX-20261121-7QK3M9") == [
        numbered,
        "TX-20261121-7QK3M9",
    ]
    with pytest.raises(ValidationFailed) as refused:
        checks.check_references([typo])
    assert refused.value.code == "reference_invalid"
