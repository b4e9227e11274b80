"""Splitting strategies for imports (SPEC §5): how source items become micro-tasks.

Pure: no Django, no database. `rows` and `bundle` group whole items; `text_chunks` cuts one long
text into spans of at most `max_chars` characters; `time_segments` cuts one media duration into
segments of `seconds`, optionally overlapping. Spans carry their index and offsets so that the
caller can record in each task's `source` exactly where it came from.
"""

import re
import unicodedata
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
# Closing punctuation: it belongs to what it closes, so a sentence or clause cut takes it along,
# and no chunk starts with it. Full-width marks here and below are meant (RUF001).
_CLOSERS = "\"'”’»)\\]」』）】〕〉》"  # noqa: RUF001
_CLOSING = frozenset(_CLOSERS) - {"\\"}
# ... and the marks that must not open a chunk in Chinese or Japanese, closers included.
_NO_START = frozenset("、。，．！？：；ー々ゝゞ・") | _CLOSING  # noqa: RUF001
# Characters that join the one before them into one grapheme: combining marks are found with
# unicodedata; these are the joiner and variation selectors.
_JOINERS = frozenset("\u200d\ufe0e\ufe0f")
# A window with none of these has no word boundary at all (whitespace, a CJK character, or a
# closer, which may end a CJK word begun before the window).
_MAYBE_BOUNDARY = re.compile(f"[\\s{_CJK}{_CLOSERS}]")

# Cut positions by preference, each the end of a match: after a blank line (and the whitespace
# that follows it); after a sentence (Western enders need whitespace after them, so that "3.14"
# and "e.g.x" stay whole; Chinese and Japanese enders do not) or a line break; after a clause mark
# of Chinese or Japanese. Possessive quantifiers and the lookbehind (a run of enders is tried from
# its first character only) keep each search linear: a long run of dots with no space after it
# would otherwise be retried from every dot, each time backtracking through the rest.
_PARAGRAPH = re.compile(r"\n[^\S\n]*+\n\s*+")
_SENTENCE = re.compile(
    f"(?<![.!?…])[.!?…]++[{_CLOSERS}]*+\\s++|[。！？｡]++[{_CLOSERS}]*+\\s*+|\\n\\s*+"  # noqa: RUF001
)
_CLAUSE = re.compile(f"[、，；：]++[{_CLOSERS}]*+\\s*+")  # noqa: RUF001


def text_chunks(text: str, max_chars: int) -> Iterator[Chunk]:
    """Cuts `text` into consecutive chunks of at most `max_chars` characters that cover it exactly
    once, in order.

    Each cut is the last one that fits, preferring a paragraph break, then a sentence end, then a
    clause mark (Chinese, Japanese), then a word boundary (whitespace, or between Chinese or
    Japanese characters). A chunk is cut inside a word only when the word alone is longer than
    `max_chars`, and then not inside a CRLF pair or before a combining mark or joiner when it can
    be helped. Empty text gives no chunks.
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
        # The same test as for words, so that the two never disagree (a closer, a CRLF pair).
        cuts = [cut for cut in cuts if _word_boundary(text, cut)]
        if cuts:
            return cuts[-1]
    if _MAYBE_BOUNDARY.search(window):
        for cut in range(limit, start, -1):
            if _word_boundary(text, cut):
                return cut
    # Inside a word: at the limit, unless that splits a character from what joins it.
    for cut in range(limit, max(start, limit - _CLUSTER_CHARS), -1):
        if not _splits_cluster(text, cut):
            return cut
    return limit


_CLUSTER_CHARS = 32  # how far back a forced cut looks for the end of a grapheme


def _splits_cluster(text: str, cut: int) -> bool:
    before, after = text[cut - 1], text[cut]
    return (
        (before == "\r" and after == "\n")
        or before == "\u200d"
        or after in _JOINERS
        or unicodedata.combining(after) != 0
    )


def _word_boundary(text: str, cut: int) -> bool:
    if _splits_cluster(text, cut):
        return False
    before, after = text[cut - 1], text[cut]
    if before.isspace() or after.isspace():
        return True
    if after in _NO_START:
        return False
    if before in _CLOSING:
        # Closing punctuation belongs to what it closes: after a closed CJK sentence or word
        # (`。」` then more) the cut is between words, as the sentence cut says.
        at = cut - 1
        while at > 0 and text[at] in _CLOSING:
            at -= 1
        before = text[at]
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


def milliseconds(seconds: float) -> int:
    """Seconds as the whole milliseconds segments are cut in (half to even: 0.0005 s is 0)."""
    return round(seconds * 1000)


def segment_options_check(seconds: float, overlap_seconds: float = 0) -> tuple[int, int]:
    """`seconds` and `overlap_seconds` in milliseconds; ValueError unless seconds > 0 and
    0 <= overlap_seconds < seconds once rounded to milliseconds."""
    length, overlap = milliseconds(seconds), milliseconds(overlap_seconds)
    if length <= 0:
        raise ValueError("seconds must be at least 0.001")
    if not 0 <= overlap < length:
        raise ValueError(
            "overlap_seconds must be at least 0 and less than seconds, in whole milliseconds"
        )
    return length, overlap


def time_segments(duration: float, seconds: float, overlap_seconds: float = 0) -> Iterator[Segment]:
    """Cuts `duration` seconds into segments of `seconds`, each starting `seconds -
    overlap_seconds` after the one before; the last ends at `duration` (it may be shorter).

    Offsets are whole milliseconds, so that they print and compare exactly. Raises ValueError
    (at the call) unless duration > 0 and the options pass `segment_options_check`, in
    milliseconds.
    """
    total = milliseconds(duration)
    if total <= 0:
        raise ValueError("duration must be positive (at least 0.001 s in whole milliseconds)")
    length, overlap = segment_options_check(seconds, overlap_seconds)
    return _segments(total, length, overlap)


def _segments(total: int, length: int, overlap: int) -> Iterator[Segment]:
    index = start = 0
    while True:
        end = min(start + length, total)
        yield Segment(index, start / 1000, end / 1000)
        if end == total:
            return
        index, start = index + 1, start + length - overlap
