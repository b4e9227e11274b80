"""The splitting strategies (SPEC §5), as pure functions: examples, then properties."""

# ruff: noqa: RUF001 (full-width Chinese and Japanese punctuation is the point here)

import itertools
import time

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from marketplace.splitters import (
    bundle,
    is_mid_word,
    rows,
    segment_options_check,
    text_chunks,
    time_segments,
)


def texts(text: str, max_chars: int) -> list[str]:
    return [chunk.text for chunk in text_chunks(text, max_chars)]


# --- rows and bundles --------------------------------------------------------------------------


def test_rows_make_one_task_per_item():
    assert list(rows(["a", "b"])) == [["a"], ["b"]]


def test_bundles_hold_k_items_and_the_last_what_is_left():
    assert list(bundle(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(bundle([], 3)) == []


def test_bundles_need_k_of_at_least_one():
    with pytest.raises(ValueError):
        list(bundle([1], 0))


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=20))
def test_bundles_keep_every_item_in_order(items, k):
    groups = list(bundle(items, k))

    assert [item for group in groups for item in group] == items
    assert all(len(group) == k for group in groups[:-1])
    assert all(1 <= len(group) <= k for group in groups)


# --- text chunks: examples ---------------------------------------------------------------------


def test_short_text_is_one_chunk_and_empty_text_none():
    (chunk,) = text_chunks("Short.", 100)
    assert (chunk.index, chunk.start, chunk.end, chunk.text) == (0, 0, 6, "Short.")
    assert list(text_chunks("", 10)) == []


def test_cuts_prefer_paragraphs_to_sentences():
    text = "One. Two.\n\nThree four five. Six seven."

    assert texts(text, 20) == ["One. Two.\n\n", "Three four five. ", "Six seven."]


def test_cuts_prefer_sentences_to_words():
    text = "The cat sat. The dog ran far away."

    assert texts(text, 25) == ["The cat sat. ", "The dog ran far away."]


def test_cuts_fall_back_to_words_never_inside_one():
    assert texts("alpha beta gamma delta", 12) == ["alpha beta ", "gamma delta"]


def test_numbers_and_abbreviations_are_not_sentence_ends():
    # "3.14" has no space after its dot: the cut goes to the last word boundary instead.
    assert texts("pi is 3.14159 roughly", 16) == ["pi is 3.14159 ", "roughly"]


def test_a_word_longer_than_the_limit_is_cut_at_the_limit():
    assert texts("a " + "x" * 12 + " b", 5) == ["a ", "xxxxx", "xxxxx", "xx b"]


def test_chinese_is_cut_after_sentences():
    text = "我们今天去公园。天气很好，阳光明媚！然后我们回家了。"

    assert texts(text, 10) == ["我们今天去公园。", "天气很好，阳光明媚！", "然后我们回家了。"]


def test_japanese_is_cut_after_clauses_when_a_sentence_is_too_long():
    text = "日本語の長い文章は、読点で区切られることがあります。"

    assert texts(text, 12) == ["日本語の長い文章は、", "読点で区切られることがあ", "ります。"]


def test_cjk_without_any_mark_is_cut_at_the_limit():
    assert texts("漢" * 25, 10) == ["漢" * 10, "漢" * 10, "漢" * 5]


def test_cjk_cut_never_opens_a_chunk_with_closing_punctuation():
    chunks = texts("漢字漢字漢字漢字漢」漢字", 9)

    assert not chunks[1].startswith("」")


def test_chunks_keep_their_offsets():
    text = "First sentence here. Second one follows."
    chunks = list(text_chunks(text, 25))

    assert [(c.index, c.start, c.end) for c in chunks] == [(0, 0, 21), (1, 21, 40)]
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_a_long_run_of_dots_is_chunked_in_linear_time():
    text = "." * 200_000

    started = time.perf_counter()
    for max_chars in (32_000, 1_000):
        assert "".join(texts(text, max_chars)) == text

    assert time.perf_counter() - started < 0.5


def test_a_cut_after_closing_punctuation_is_a_word_boundary_too():
    text = 'aa。"a'

    assert texts(text, 4) == ['aa。"', "a"]
    assert not is_mid_word(text, 4)


def test_forced_cuts_never_split_crlf_or_a_combining_mark():
    assert texts("ab\r\ncd", 3) == ["ab", "\r\n", "cd"]
    assert texts("abe\u0301fg", 3) == ["ab", "e\u0301f", "g"]
    assert not any(chunk.endswith("\r") for chunk in texts("x\r\n" * 50, 7))


def test_max_chars_must_be_positive():
    with pytest.raises(ValueError):
        list(text_chunks("text", 0))


# --- text chunks: properties -------------------------------------------------------------------

_alphabet = st.sampled_from(
    [
        *list("abcdefghij"),
        *[" ", " ", "\n", "\n\n", "\r\n", ".", "!", "?", ",", "…"],
        *["漢", "字", "。", "、", "」", "「", '"', "'", "(", ")", "[", "]", "»"],
        *["e\u0301", "\U0001f469\u200d\U0001f4bb", "\u2764\ufe0f"],
    ]
)
_texts = st.lists(_alphabet, max_size=300).map("".join) | st.text(max_size=300)


@given(_texts, st.integers(min_value=1, max_value=60))
def test_chunks_cover_the_text_exactly_once_in_order(text, max_chars):
    chunks = list(text_chunks(text, max_chars))

    assert "".join(chunk.text for chunk in chunks) == text
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    position = 0
    for chunk in chunks:
        assert chunk.start == position and chunk.text == text[chunk.start : chunk.end]
        assert chunk.text
        position = chunk.end
    assert position == len(text)


@given(_texts, st.integers(min_value=1, max_value=60))
def test_chunks_fit_and_are_cut_inside_a_word_only_when_it_is_longer(text, max_chars):
    for chunk in text_chunks(text, max_chars):
        assert len(chunk.text) <= max_chars
        if is_mid_word(text, chunk.end):
            # The word around the cut runs from before the chunk to after it: longer than N.
            start = chunk.end - 1
            while start > 0 and is_mid_word(text, start):
                start -= 1
            end = chunk.end + 1
            while end < len(text) and is_mid_word(text, end):
                end += 1
            assert end - start > max_chars


# --- time segments -----------------------------------------------------------------------------


def test_segments_of_n_seconds_the_last_shorter():
    spans = [(s.index, s.start, s.end) for s in time_segments(25, 10)]

    assert spans == [(0, 0.0, 10.0), (1, 10.0, 20.0), (2, 20.0, 25.0)]


def test_segments_overlap_when_asked():
    spans = [(s.start, s.end) for s in time_segments(10, 5, 2)]

    assert spans == [(0.0, 5.0), (3.0, 8.0), (6.0, 10.0)]


def test_segment_offsets_are_whole_milliseconds():
    spans = [(s.start, s.end) for s in time_segments(0.35, 0.1)]

    assert spans == [(0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.35)]


@pytest.mark.parametrize(
    "duration, seconds, overlap", [(0, 5, 0), (10, 0, 0), (10, 5, 5), (10, 5, -1)]
)
def test_bad_segment_arguments_fail_at_the_call(duration, seconds, overlap):
    with pytest.raises(ValueError):
        time_segments(duration, seconds, overlap)


def test_segment_options_are_compared_in_whole_milliseconds():
    assert segment_options_check(10, 2.5) == (10_000, 2_500)
    with pytest.raises(ValueError):
        segment_options_check(0.0025, 0.0024)  # both 2 ms: no overlap less than the length
    with pytest.raises(ValueError):
        time_segments(0.0004, 1)


@given(
    st.integers(min_value=1, max_value=100_000),
    st.integers(min_value=1, max_value=20_000),
    st.integers(min_value=0, max_value=19_999),
)
def test_segments_cover_the_duration(total_ms, length_ms, overlap_ms):
    overlap_ms = overlap_ms % length_ms
    assume(total_ms / (length_ms - overlap_ms) <= 2_000)
    segments = list(time_segments(total_ms / 1000, length_ms / 1000, overlap_ms / 1000))

    assert segments[0].start == 0 and segments[-1].end == total_ms / 1000
    assert [s.index for s in segments] == list(range(len(segments)))
    for before, after in itertools.pairwise(segments):
        assert round((after.start - before.start) * 1000) == length_ms - overlap_ms
        assert after.start <= before.end < after.end
    assert all(0 < round((s.end - s.start) * 1000) <= length_ms for s in segments)
