"""Splitting strategies for imports (SPEC §5): how source items become micro-tasks.

Pure: no Django, no database. `rows` and `bundle` group whole items; `text_chunks` cuts one long
text into spans of at most `max_chars` characters; `time_segments` cuts one media duration into
segments of `seconds`, optionally overlapping. Spans carry their index and offsets so that the
caller can record in each task's `source` exactly where it came from.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def rows(items: Iterable[T]) -> Iterator[list[T]]:
    """One task per item."""
    for item in items:
        yield [item]


def bundle(items: Iterable[T], k: int) -> Iterator[list[T]]:
    """Consecutive items, k per task; the last bundle holds what is left (1..k items)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    iterator = iter(items)
    while group := list(islice(iterator, k)):
        yield group


# --- text --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """`text[start:end]` of the source text, the `index`-th chunk of it."""

    index: int
    start: int
    end: int
    text: str


# Chinese and Japanese write no spaces between words: a break between two of these characters is
# not inside a word (as line breaking in those languages does). Korean uses spaces.
_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u3100-\u312f\u31a0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
    "\U00020000-\U0003134f"
)
_CJK_CHAR = re.compile(f"[{_CJK}]")
# Punctuation that must not open a chunk in Chinese or Japanese (it closes what precedes it);
# full-width marks here and below are meant (RUF001).
_CJK_NO_START = frozenset("、。，．！？：；）」』】〕〉》”’ー々ゝゞ・")  # noqa: RUF001
_CLOSERS = "\"'”’»)\\]」』）】〕〉》"  # noqa: RUF001

# Cut positions by preference, each the end of a match: after a blank line (and the whitespace
# that follows it); after a sentence (Western enders need whitespace after them, so that "3.14"
# and "e.g.x" stay whole; Chinese and Japanese enders do not) or a line break; after a clause mark
# of Chinese or Japanese.
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")
_SENTENCE = re.compile(f"[.!?…]+[{_CLOSERS}]*\\s+|[。！？｡]+[{_CLOSERS}]*\\s*|\\n\\s*")  # noqa: RUF001
_CLAUSE = re.compile(f"[、，；：]+[{_CLOSERS}]*\\s*")  # noqa: RUF001


def text_chunks(text: str, max_chars: int) -> Iterator[Chunk]:
    """Cuts `text` into consecutive chunks of at most `max_chars` characters that cover it exactly
    once, in order.

    Each cut is the last one that fits, preferring a paragraph break, then a sentence end, then a
    clause mark (Chinese, Japanese), then a word boundary (whitespace, or between Chinese or
    Japanese characters). A chunk is cut inside a word only when the word alone is longer than
    `max_chars`. Empty text gives no chunks.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    index = start = 0
    while len(text) - start > max_chars:
        end = _cut(text, start, max_chars)
        yield Chunk(index, start, end, text[start:end])
        index, start = index + 1, end
    if start < len(text):
        yield Chunk(index, start, len(text), text[start:])


def _cut(text: str, start: int, max_chars: int) -> int:
    """Where the chunk that begins at `start` ends, given that more than `max_chars` remain."""
    limit = start + max_chars
    # One character past the limit, so that a break right after the last character that fits
    # (a sentence end followed by a space) is seen; a cut found there is moved back to the limit
    # when that is still inside the whitespace of the break.
    window = text[start : limit + 1]
    fits_at_limit = text[limit].isspace()
    for pattern in (_PARAGRAPH, _SENTENCE, _CLAUSE):
        # A break at the very start would make a chunk of nothing but the break itself.
        cuts = [
            min(start + match.end(), limit)
            for match in pattern.finditer(window)
            if match.start() > 0 and (match.end() <= max_chars or fits_at_limit)
        ]
        cuts = [cut for cut in cuts if text[cut] not in _CJK_NO_START]
        if cuts:
            return cuts[-1]
    for cut in range(limit, start, -1):
        if _word_boundary(text, cut):
            return cut
    return limit


def _word_boundary(text: str, cut: int) -> bool:
    before, after = text[cut - 1], text[cut]
    if before.isspace() or after.isspace():
        return True
    if after in _CJK_NO_START:
        return False
    return bool(_CJK_CHAR.match(before) or _CJK_CHAR.match(after))


def is_mid_word(text: str, cut: int) -> bool:
    """Whether a cut at `cut` separates two characters of one word."""
    return 0 < cut < len(text) and not _word_boundary(text, cut)


# --- media -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """Seconds [start, end) of the media, the `index`-th segment of it."""

    index: int
    start: float
    end: float


def time_segments(duration: float, seconds: float, overlap_seconds: float = 0) -> Iterator[Segment]:
    """Cuts `duration` seconds into segments of `seconds`, each starting `seconds -
    overlap_seconds` after the one before; the last ends at `duration` (it may be shorter).

    Offsets are whole milliseconds, so that they print and compare exactly. Raises ValueError
    (at the call) unless duration > 0, seconds > 0 and 0 <= overlap_seconds < seconds, in
    milliseconds.
    """
    total, length, overlap = (round(value * 1000) for value in (duration, seconds, overlap_seconds))
    if total <= 0:
        raise ValueError("duration must be positive")
    if length <= 0:
        raise ValueError("seconds must be at least 0.001")
    if not 0 <= overlap < length:
        raise ValueError("overlap_seconds must be at least 0 and less than seconds")
    return _segments(total, length, overlap)


def _segments(total: int, length: int, overlap: int) -> Iterator[Segment]:
    index = start = 0
    while True:
        end = min(start + length, total)
        yield Segment(index, start / 1000, end / 1000)
        if end == total:
            return
        index, start = index + 1, start + length - overlap
