"""qc.scoring: answer formats, answer validation, gold matching per task type, accuracy estimate."""

import itertools
import json
import math
import sys
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qc.scoring import (
    DEFAULT_GOLD_THRESHOLD,
    LABEL_TYPES,
    TASK_TYPES,
    AnswerError,
    AnswerFormat,
    accuracy_estimate,
    answer_format_check,
    answer_normalise,
    gold_matches,
    task_data_check,
)

CLASSIFICATION = AnswerFormat("classification", labels=("dog", "bird"))
MULTI_LABEL = AnswerFormat("multi_label", labels=("cat", "dog", "bird", "fish"))
TEXT = AnswerFormat("text")
RATING = AnswerFormat("rating", scale_min=1, scale_max=5)
RANKING = AnswerFormat("ranking")
BBOX = AnswerFormat("bbox", labels=("car", "person"))

NO_DATA: dict = {}
RANKING_DATA = {
    "responses": [
        {"id": 1, "text": "first"},
        {"id": 2, "text": "second"},
        {"id": 3, "text": "third"},
    ]
}
RANKING_DATA_4 = {"responses": [{"id": i, "text": f"response {i}"} for i in (1, 2, 3, 4)]}
RANKING_DATA_STR = {"responses": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}


def box(label="car", x=0, y=0, w=10, h=10) -> dict:
    return {"label": label, "x": x, "y": y, "w": w, "h": h}


def ranking_data(ids) -> dict:
    return {"responses": [{"id": id_, "text": f"response {id_!r}"} for id_ in ids]}


# --- AnswerFormat ------------------------------------------------------------------------------


def test_constants_agree():
    assert set(TASK_TYPES) >= LABEL_TYPES
    assert set(TASK_TYPES) >= DEFAULT_GOLD_THRESHOLD.keys()


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (CLASSIFICATION, None),
        (MULTI_LABEL, 1.0),
        (TEXT, 0.9),
        (RATING, None),
        (RANKING, 1.0),
        (BBOX, 0.5),
        (replace(TEXT, gold_threshold=0.7), 0.7),
        (replace(RANKING, gold_threshold=-0.5), -0.5),
        (replace(MULTI_LABEL, gold_threshold=0.0), 0.0),  # 0 is a setting, not "unset"
        (replace(CLASSIFICATION, gold_threshold=0.3), None),
        (replace(RATING, gold_threshold=0.3), None),
    ],
)
def test_threshold_is_the_setting_else_the_type_default(fmt, expected):
    assert fmt.threshold == expected


def test_labels_given_as_a_json_list_become_a_tuple():
    fmt = AnswerFormat("classification", labels=["dog", "bird"])

    assert fmt.labels == ("dog", "bird")
    assert fmt == CLASSIFICATION
    assert hash(fmt) == hash(CLASSIFICATION)


# --- answer_format_check -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt",
    [
        CLASSIFICATION,
        MULTI_LABEL,
        TEXT,
        RATING,
        RANKING,
        BBOX,
        AnswerFormat("classification", labels=("only",)),
        AnswerFormat("classification", labels=("Dog", "dog", " dog ")),
        AnswerFormat("rating", scale_min=-1.5, scale_max=-1.25),
        AnswerFormat("rating", scale_min=0, scale_max=100, gold_tolerance=2.5),
        replace(MULTI_LABEL, gold_threshold=0),
        replace(MULTI_LABEL, gold_threshold=1),
        replace(TEXT, gold_threshold=0.0),
        replace(BBOX, gold_threshold=1.0),
        replace(RANKING, gold_threshold=-1),
        replace(RANKING, gold_threshold=0.5),
    ],
)
def test_answer_format_check_accepts(fmt):
    answer_format_check(fmt)


NAN = math.nan
INF = math.inf


@pytest.mark.parametrize(
    ("fmt", "message_part"),
    [
        (AnswerFormat("poll"), "task_type 'poll' is unknown"),
        (AnswerFormat("Classification", labels=("a",)), "task_type 'Classification' is unknown"),
        *[
            (AnswerFormat(task_type), "labels must be a non-empty list")
            for task_type in LABEL_TYPES
        ],
        (AnswerFormat("bbox", labels="car"), "labels must be a non-empty list"),
        (
            AnswerFormat("classification", labels=("dog", " ")),
            "labels: label 1 must be a non-blank",
        ),
        (AnswerFormat("classification", labels=("",)), "labels: label 0 must be a non-blank"),
        (
            AnswerFormat("multi_label", labels=("a", 1)),
            "labels: label 1 must be a non-blank string",
        ),
        (AnswerFormat("multi_label", labels=("a", None)), "labels: label 1 must be a non-blank"),
        (AnswerFormat("bbox", labels=("car", "c\x00r")), "labels: label 1 must not contain NUL"),
        (AnswerFormat("bbox", labels=("\ud800",)), "labels: label 0 must not contain unpaired"),
        (
            AnswerFormat("bbox", labels=("car", "bus", "car")),
            "labels: 'car' is listed more than once",
        ),
        (AnswerFormat("rating"), "scale: min and max must both be numbers"),
        (AnswerFormat("rating", scale_min=1), "scale: min and max must both be numbers"),
        (AnswerFormat("rating", scale_max=5), "scale: min and max must both be numbers"),
        (AnswerFormat("rating", scale_min="1", scale_max=5), "scale: min and max must both be"),
        (AnswerFormat("rating", scale_min=False, scale_max=True), "scale: min and max must both"),
        (AnswerFormat("rating", scale_min=NAN, scale_max=5), "scale: min and max must both be"),
        (AnswerFormat("rating", scale_min=1, scale_max=INF), "scale: min and max must both be"),
        (AnswerFormat("rating", scale_min=-INF, scale_max=5), "scale: min and max must both be"),
        (AnswerFormat("rating", scale_min=5, scale_max=5), "scale: min must be less than max"),
        (AnswerFormat("rating", scale_min=5, scale_max=1), "scale: min must be less than max"),
        (
            replace(MULTI_LABEL, gold_threshold=1.01),
            "gold_threshold must be a number between 0 and 1",
        ),
        (
            replace(MULTI_LABEL, gold_threshold=-0.1),
            "gold_threshold must be a number between 0 and",
        ),
        (replace(TEXT, gold_threshold=-1), "gold_threshold must be a number between 0 and 1"),
        (replace(TEXT, gold_threshold=NAN), "gold_threshold must be a number between 0 and 1"),
        (replace(BBOX, gold_threshold=INF), "gold_threshold must be a number between 0 and 1"),
        (replace(BBOX, gold_threshold=True), "gold_threshold must be a number between 0 and 1"),
        (replace(BBOX, gold_threshold="0.5"), "gold_threshold must be a number between 0 and 1"),
        (
            replace(RANKING, gold_threshold=-1.01),
            "gold_threshold must be a number between -1 and 1",
        ),
        (replace(RANKING, gold_threshold=1.5), "gold_threshold must be a number between -1 and 1"),
        (replace(RANKING, gold_threshold=NAN), "gold_threshold must be a number between -1 and 1"),
        (replace(RATING, gold_tolerance=-0.5), "gold_tolerance must be a number >= 0"),
        (replace(RATING, gold_tolerance=INF), "gold_tolerance must be a number >= 0"),
        (replace(RATING, gold_tolerance=NAN), "gold_tolerance must be a number >= 0"),
        (replace(RATING, gold_tolerance=True), "gold_tolerance must be a number >= 0"),
        (replace(RATING, gold_tolerance=None), "gold_tolerance must be a number >= 0"),
    ],
)
def test_answer_format_check_refuses_naming_the_field(fmt, message_part):
    with pytest.raises(AnswerError) as error:
        answer_format_check(fmt)

    assert message_part in str(error.value)


# --- task_data_check ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        (TEXT, {}),
        (CLASSIFICATION, {"image_url": "https://example.com/1.jpg"}),
        (BBOX, {"image_url": "https://example.com/1.jpg", "width": 640}),
        (RANKING, RANKING_DATA),
        (RANKING, RANKING_DATA_STR),
        (RANKING, {"responses": [{"id": 0, "text": ""}, {"id": "0", "text": "", "model": "m"}]}),
        (RANKING, {"prompt": "Which is kinder?", **RANKING_DATA_4}),
        (TEXT, {"nested": [[[{"deep": "\U0001f600 ok"}]]], "n": 1.5, "flag": True, "none": None}),
        (TEXT, json.loads('{"emoji": "\\ud83d\\ude00"}')),  # a JSON surrogate pair: one character
    ],
)
def test_task_data_check_accepts(fmt, data):
    task_data_check(fmt, data)


def test_task_data_check_walks_deep_nesting_without_recursion():
    data: dict = {"ok": []}
    innermost = data["ok"]
    for _ in range(sys.getrecursionlimit() * 2):
        innermost.append([])
        innermost = innermost[0]
    task_data_check(TEXT, data)

    innermost.append("\x00")
    with pytest.raises(AnswerError, match="NUL"):
        task_data_check(TEXT, data)


@pytest.mark.parametrize(
    ("fmt", "data", "message_part"),
    [
        *[
            (fmt, data, "task data must be a JSON object")
            for fmt in (CLASSIFICATION, TEXT, RATING, RANKING, BBOX)
            for data in (None, [], "text", 1)
        ],
        (RANKING, {}, "needs responses: a list of at least 2"),
        (RANKING, {"responses": {"1": "a", "2": "b"}}, "needs responses: a list of at least 2"),
        (RANKING, {"responses": []}, "needs responses: a list of at least 2"),
        (RANKING, {"responses": [{"id": 1, "text": "a"}]}, "needs responses: a list of at least 2"),
        (RANKING, {"responses": [{"id": 1, "text": "a"}, "b"]}, "response 1 must be an object"),
        (
            RANKING,
            {"responses": [{"id": 1}, {"id": 2, "text": "b"}]},
            "response 0 must be an object",
        ),
        (RANKING, {"responses": [{"id": 1, "text": "a"}, {"text": "b"}]}, "response 1 must be an"),
        (RANKING, ranking_data([1, True]), "response 1: id must be a string or an integer"),
        (RANKING, ranking_data([1.5, 2]), "response 0: id must be a string or an integer"),
        (RANKING, ranking_data([None, 2]), "response 0: id must be a string or an integer"),
        (RANKING, ranking_data([[1], 2]), "response 0: id must be a string or an integer"),
        (
            RANKING,
            {"responses": [{"id": 1, "text": 1}, {"id": 2, "text": "b"}]},
            "response 0: text",
        ),
        (RANKING, ranking_data([1, 2, 1]), "response 2: id 1 is used more than once"),
        (RANKING, ranking_data(["a", "b", "a"]), "response 2: id 'a' is used more than once"),
        # what PostgreSQL's jsonb could not store, anywhere in the data
        (TEXT, {"text": "a\x00b"}, "task data must not contain NUL (U+0000) characters"),
        (TEXT, {"a\x00b": "text"}, "task data must not contain NUL (U+0000) characters"),
        (TEXT, {"rows": [{"cells": ["ok", "\x00"]}]}, "task data must not contain NUL"),
        (TEXT, {"text": "\udc80"}, "task data must not contain unpaired surrogate characters"),
        (RATING, {"score": NAN}, "task data must not contain NaN or infinite numbers"),
        (RATING, {"scores": [1.0, -INF]}, "task data must not contain NaN or infinite numbers"),
        (
            RANKING,
            {"responses": [{"id": 1, "text": "a"}, {"id": 2, "text": "b\x00"}]},
            "task data must not contain NUL (U+0000) characters",
        ),
    ],
)
def test_task_data_check_refuses(fmt, data, message_part):
    with pytest.raises(AnswerError) as error:
        task_data_check(fmt, data)

    assert message_part in str(error.value)


# --- answer_normalise: valid answers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "data", "answer", "expected"),
    [
        (CLASSIFICATION, NO_DATA, "dog", "dog"),
        (CLASSIFICATION, NO_DATA, "bird", "bird"),
        (MULTI_LABEL, NO_DATA, [], []),
        (MULTI_LABEL, NO_DATA, ["dog"], ["dog"]),
        (MULTI_LABEL, NO_DATA, ["bird", "cat"], ["cat", "bird"]),
        (MULTI_LABEL, NO_DATA, ["fish", "bird", "dog", "cat"], ["cat", "dog", "bird", "fish"]),
        (TEXT, NO_DATA, "x", "x"),
        (TEXT, NO_DATA, "  Hello,\n  world  ", "  Hello,\n  world  "),
        (TEXT, NO_DATA, "Grüße, 世界 👋", "Grüße, 世界 👋"),
        (TEXT, NO_DATA, "a" * 100_000, "a" * 100_000),
        (RATING, NO_DATA, 1, 1),
        (RATING, NO_DATA, 5, 5),
        (RATING, NO_DATA, 3.5, 3.5),
        (RATING, NO_DATA, 5.0, 5.0),
        (AnswerFormat("rating", scale_min=-1, scale_max=1), NO_DATA, -0.25, -0.25),
        (RANKING, RANKING_DATA, [1, 2, 3], [1, 2, 3]),
        (RANKING, RANKING_DATA, [3, 1, 2], [3, 1, 2]),
        (RANKING, RANKING_DATA_STR, ["b", "a"], ["b", "a"]),
        (BBOX, NO_DATA, [], []),
        (BBOX, NO_DATA, [box()], [box()]),
        (BBOX, NO_DATA, [box(x=0.5, y=1.25, w=0.001, h=3)], [box(x=0.5, y=1.25, w=0.001, h=3)]),
        (
            BBOX,
            NO_DATA,
            [box("person", x=5, y=6, w=7, h=8), box("car", x=0.0, y=0.0, w=1e-9, h=1e9)],
            [box("person", x=5, y=6, w=7, h=8), box("car", x=0.0, y=0.0, w=1e-9, h=1e9)],
        ),
    ],
)
def test_answer_normalise_accepts(fmt, data, answer, expected):
    assert answer_normalise(fmt, answer, data) == expected


def test_normalised_box_has_the_keys_in_one_order_and_is_a_copy():
    given = {"h": 4, "w": 3, "y": 2, "x": 1, "label": "car"}

    [normalised] = answer_normalise(BBOX, [given], NO_DATA)

    assert list(normalised) == ["label", "x", "y", "w", "h"]
    assert normalised == given
    assert normalised is not given


def test_ranking_answer_keeps_the_id_type_of_the_data():
    assert answer_normalise(RANKING, [2, 1], ranking_data([1, 2])) == [2, 1]
    assert answer_normalise(RANKING, ["2", "1"], ranking_data(["1", "2"])) == ["2", "1"]
    assert answer_normalise(RANKING, ["1", 1], ranking_data([1, "1"])) == ["1", 1]


@pytest.mark.parametrize(
    ("scale_min", "scale_max", "expected"),
    [
        (1, 5, "rating must be a number between 1 and 5"),
        (1.0, 5.0, "rating must be a number between 1 and 5"),
        (0.5, 2.5, "rating must be a number between 0.5 and 2.5"),
        (-10, 10, "rating must be a number between -10 and 10"),
    ],
)
def test_rating_message_shows_the_scale_as_written(scale_min, scale_max, expected):
    fmt = AnswerFormat("rating", scale_min=scale_min, scale_max=scale_max)

    with pytest.raises(AnswerError) as error:
        answer_normalise(fmt, 100, NO_DATA)

    assert str(error.value) == expected


# --- answer_normalise: invalid answers ---------------------------------------------------------

RATING_MESSAGE = "rating must be a number between 1 and 5"
RANKING_MESSAGE = "ranking must be a permutation of the response ids 1, 2, 3: "


@pytest.mark.parametrize(
    ("fmt", "data", "answer", "message"),
    [
        # classification
        (CLASSIFICATION, NO_DATA, "cat", "'cat' is not one of the labels: dog, bird"),
        (CLASSIFICATION, NO_DATA, "Dog", "'Dog' is not one of the labels: dog, bird"),
        (CLASSIFICATION, NO_DATA, " dog", "' dog' is not one of the labels: dog, bird"),
        (CLASSIFICATION, NO_DATA, "", "'' is not one of the labels: dog, bird"),
        (CLASSIFICATION, NO_DATA, None, "answer must be a string, one of the labels: dog, bird"),
        (CLASSIFICATION, NO_DATA, 1, "answer must be a string, one of the labels: dog, bird"),
        (CLASSIFICATION, NO_DATA, True, "answer must be a string, one of the labels: dog, bird"),
        (CLASSIFICATION, NO_DATA, ["dog"], "answer must be a string, one of the labels: dog, bird"),
        # multi_label
        (MULTI_LABEL, NO_DATA, "cat", "answer must be a list of labels from: cat, dog, bird, fish"),
        (MULTI_LABEL, NO_DATA, None, "answer must be a list of labels from: cat, dog, bird, fish"),
        (MULTI_LABEL, NO_DATA, {"cat": True}, "answer must be a list of labels from: cat, dog"),
        (MULTI_LABEL, NO_DATA, ["cow"], "'cow' is not one of the labels: cat, dog, bird, fish"),
        (MULTI_LABEL, NO_DATA, ["cat", "Cat"], "'Cat' is not one of the labels: cat, dog, bird"),
        (MULTI_LABEL, NO_DATA, [1], "1 is not one of the labels: cat, dog, bird, fish"),
        (MULTI_LABEL, NO_DATA, [None], "None is not one of the labels: cat, dog, bird, fish"),
        (MULTI_LABEL, NO_DATA, [["cat"]], "['cat'] is not one of the labels: cat, dog, bird"),
        (MULTI_LABEL, NO_DATA, ["cat", "cat"], "'cat' is listed more than once"),
        (MULTI_LABEL, NO_DATA, ["dog", "cat", "dog"], "'dog' is listed more than once"),
        # text
        (TEXT, NO_DATA, None, "answer must be a string"),
        (TEXT, NO_DATA, 42, "answer must be a string"),
        (TEXT, NO_DATA, ["hello"], "answer must be a string"),
        (TEXT, NO_DATA, "", "answer must contain a non-blank character"),
        (TEXT, NO_DATA, "   ", "answer must contain a non-blank character"),
        (TEXT, NO_DATA, "\n\t \r", "answer must contain a non-blank character"),
        (TEXT, NO_DATA, "\u3000\u00a0", "answer must contain a non-blank character"),
        (TEXT, NO_DATA, "a" * 100_001, "answer must be at most 100000 characters, got 100001"),
        (TEXT, NO_DATA, "a\x00b", "answer must not contain NUL (U+0000) characters"),
        (TEXT, NO_DATA, "a\ud800b", "answer must not contain unpaired surrogate characters"),
        # rating
        (RATING, NO_DATA, 0, RATING_MESSAGE),
        (RATING, NO_DATA, 6, RATING_MESSAGE),
        (RATING, NO_DATA, 0.999, RATING_MESSAGE),
        (RATING, NO_DATA, 5.0001, RATING_MESSAGE),
        (RATING, NO_DATA, -3, RATING_MESSAGE),
        (RATING, NO_DATA, True, RATING_MESSAGE),
        (RATING, NO_DATA, False, RATING_MESSAGE),
        (RATING, NO_DATA, "3", RATING_MESSAGE),
        (RATING, NO_DATA, None, RATING_MESSAGE),
        (RATING, NO_DATA, [3], RATING_MESSAGE),
        (RATING, NO_DATA, NAN, RATING_MESSAGE),
        (RATING, NO_DATA, INF, RATING_MESSAGE),
        (RATING, NO_DATA, -INF, RATING_MESSAGE),
        (RATING, NO_DATA, 10**400, RATING_MESSAGE),
        (AnswerFormat("rating", scale_min=0, scale_max=1), NO_DATA, True, "between 0 and 1"),
        (AnswerFormat("rating", scale_min=0, scale_max=1), NO_DATA, False, "between 0 and 1"),
        # ranking
        (RANKING, RANKING_DATA, [1, 2, 3, 4], RANKING_MESSAGE + "id 4 is unknown"),
        (RANKING, RANKING_DATA, [1, 2], RANKING_MESSAGE + "id 3 is missing"),
        (RANKING, RANKING_DATA, [], RANKING_MESSAGE + "id 1 is missing"),
        (RANKING, RANKING_DATA, [3, 2], RANKING_MESSAGE + "id 1 is missing"),
        (RANKING, RANKING_DATA, [1, 2, 2], RANKING_MESSAGE + "id 2 is listed more than once"),
        (RANKING, RANKING_DATA, [1, 1, 2, 3], RANKING_MESSAGE + "id 1 is listed more than once"),
        (RANKING, RANKING_DATA, ["1", "2", "3"], RANKING_MESSAGE + "id '1' is unknown"),
        (RANKING, RANKING_DATA, [1.0, 2, 3], RANKING_MESSAGE + "id 1.0 is unknown"),
        (RANKING, RANKING_DATA, [True, 2, 3], RANKING_MESSAGE + "id True is unknown"),
        (RANKING, RANKING_DATA, [None, 2, 3], RANKING_MESSAGE + "id None is unknown"),
        (RANKING, RANKING_DATA, [[1], 2, 3], RANKING_MESSAGE + "id [1] is unknown"),
        (RANKING, RANKING_DATA, "123", RANKING_MESSAGE + "the answer is not a list"),
        (RANKING, RANKING_DATA, None, RANKING_MESSAGE + "the answer is not a list"),
        (RANKING, RANKING_DATA, {"1": 1}, RANKING_MESSAGE + "the answer is not a list"),
        (
            RANKING,
            RANKING_DATA_STR,
            ["a", "c"],
            "ranking must be a permutation of the response ids a, b: id 'c' is unknown",
        ),
        (RANKING, {}, [1, 2], "ranking task data needs responses: a list of at least 2"),
        # bbox: the answer and each box
        (BBOX, NO_DATA, box(), "answer must be a list of boxes {label, x, y, w, h}"),
        (BBOX, NO_DATA, None, "answer must be a list of boxes {label, x, y, w, h}"),
        (BBOX, NO_DATA, ["car"], "box 0 must be an object {label, x, y, w, h}"),
        (BBOX, NO_DATA, [box(), [0, 0, 1, 1]], "box 1 must be an object {label, x, y, w, h}"),
        (BBOX, NO_DATA, [{"label": "car", "x": 0, "y": 0, "w": 1}], "box 0 is missing h"),
        (BBOX, NO_DATA, [{"label": "car"}], "box 0 is missing x, y, w, h"),
        (BBOX, NO_DATA, [{}], "box 0 is missing label, x, y, w, h"),
        (BBOX, NO_DATA, [{**box(), "z": 1}], "box 0 has unknown keys: z"),
        (
            BBOX,
            NO_DATA,
            [box(), {**box(), "score": 1, "id": 7}],
            "box 1 has unknown keys: id, score",
        ),
        # bbox: label
        (
            BBOX,
            NO_DATA,
            [box("truck")],
            "box 0: label 'truck' is not one of the labels: car, person",
        ),
        (BBOX, NO_DATA, [box("Car")], "box 0: label 'Car' is not one of the labels: car, person"),
        (BBOX, NO_DATA, [box(None)], "box 0: label None is not one of the labels: car, person"),
        (BBOX, NO_DATA, [box(["car"])], "box 0: label ['car'] is not one of the labels"),
        # bbox: position and size
        (BBOX, NO_DATA, [box(x=-1)], "box 0: x must be a number >= 0"),
        (BBOX, NO_DATA, [box(y=-0.001)], "box 0: y must be a number >= 0"),
        (BBOX, NO_DATA, [box(x="1")], "box 0: x must be a number >= 0"),
        (BBOX, NO_DATA, [box(y=None)], "box 0: y must be a number >= 0"),
        (BBOX, NO_DATA, [box(x=True)], "box 0: x must be a number >= 0"),
        (BBOX, NO_DATA, [box(y=False)], "box 0: y must be a number >= 0"),
        (BBOX, NO_DATA, [box(x=NAN)], "box 0: x must be a number >= 0"),
        (BBOX, NO_DATA, [box(y=INF)], "box 0: y must be a number >= 0"),
        (BBOX, NO_DATA, [box(x=10**400)], "box 0: x must be a number >= 0"),
        (BBOX, NO_DATA, [box(w=0)], "box 0: w must be a number > 0"),
        (BBOX, NO_DATA, [box(h=0.0)], "box 0: h must be a number > 0"),
        (BBOX, NO_DATA, [box(w=-5)], "box 0: w must be a number > 0"),
        (BBOX, NO_DATA, [box(h="10")], "box 0: h must be a number > 0"),
        (BBOX, NO_DATA, [box(w=True)], "box 0: w must be a number > 0"),
        (BBOX, NO_DATA, [box(h=NAN)], "box 0: h must be a number > 0"),
        (BBOX, NO_DATA, [box(w=INF)], "box 0: w must be a number > 0"),
        (BBOX, NO_DATA, [box(), box(), box(h=-1)], "box 2: h must be a number > 0"),
    ],
)
def test_answer_normalise_refuses_naming_the_problem(fmt, data, answer, message):
    with pytest.raises(AnswerError) as error:
        answer_normalise(fmt, answer, data)

    assert message in str(error.value)


def test_answer_error_is_a_value_error():
    with pytest.raises(ValueError, match="'cat' is not one of the labels: dog, bird"):
        answer_normalise(CLASSIFICATION, "cat", NO_DATA)


# --- gold_matches ------------------------------------------------------------------------------


def threshold(fmt: AnswerFormat, value: float) -> AnswerFormat:
    return replace(fmt, gold_threshold=value)


def tolerance(value: float) -> AnswerFormat:
    return replace(RATING, gold_tolerance=value)


TEN = "abcdefghij"
ONE_EDIT = "abcdefghiX"  # similarity 1 - 1/10 = 0.9
TWO_EDITS = "abcdefghXY"  # 0.8
EIGHT_EDITS = "abXXXXXXXX"  # 0.2


@pytest.mark.parametrize(
    ("fmt", "data", "answer", "gold", "expected"),
    [
        # classification
        pytest.param(CLASSIFICATION, NO_DATA, "dog", "dog", True, id="class-equal"),
        pytest.param(CLASSIFICATION, NO_DATA, "dog", "bird", False, id="class-different"),
        # multi_label: Jaccard of {cat, dog} and {cat, dog, bird} is 2/3
        pytest.param(MULTI_LABEL, NO_DATA, ["cat", "dog"], ["cat", "dog"], True, id="ml-same"),
        pytest.param(MULTI_LABEL, NO_DATA, [], [], True, id="ml-both-empty"),
        pytest.param(MULTI_LABEL, NO_DATA, ["cat", "dog"], ["cat", "dog", "bird"], False, id="ml-2/3-default"),
        pytest.param(threshold(MULTI_LABEL, 0.66), NO_DATA, ["cat", "dog"], ["cat", "dog", "bird"], True, id="ml-2/3-at-0.66"),
        pytest.param(threshold(MULTI_LABEL, 2 / 3), NO_DATA, ["cat", "dog"], ["cat", "dog", "bird"], True, id="ml-2/3-at-2/3"),
        pytest.param(threshold(MULTI_LABEL, 0.67), NO_DATA, ["cat", "dog"], ["cat", "dog", "bird"], False, id="ml-2/3-at-0.67"),
        pytest.param(threshold(MULTI_LABEL, 0.5), NO_DATA, ["cat"], ["cat", "dog"], True, id="ml-1/2-at-0.5"),
        pytest.param(threshold(MULTI_LABEL, 0.5), NO_DATA, ["cat", "fish"], ["cat", "dog"], False, id="ml-1/3-at-0.5"),
        pytest.param(threshold(MULTI_LABEL, 0.99), NO_DATA, [], ["cat"], False, id="ml-empty-vs-one"),
        pytest.param(threshold(MULTI_LABEL, 0), NO_DATA, [], ["cat"], True, id="ml-threshold-0"),
        pytest.param(threshold(MULTI_LABEL, 0.01), NO_DATA, ["dog"], ["cat"], False, id="ml-disjoint"),
        # text: 10 characters, so each edit costs 0.1
        pytest.param(TEXT, NO_DATA, TEN, TEN, True, id="text-same"),
        pytest.param(TEXT, NO_DATA, ONE_EDIT, TEN, True, id="text-0.9-at-default-0.9"),
        pytest.param(TEXT, NO_DATA, TWO_EDITS, TEN, False, id="text-0.8-at-default-0.9"),
        pytest.param(threshold(TEXT, 0.91), NO_DATA, ONE_EDIT, TEN, False, id="text-0.9-at-0.91"),
        pytest.param(threshold(TEXT, 0.8), NO_DATA, TWO_EDITS, TEN, True, id="text-0.8-at-0.8"),
        pytest.param(threshold(TEXT, 0.2), NO_DATA, EIGHT_EDITS, TEN, True, id="text-0.2-at-0.2"),
        pytest.param(threshold(TEXT, 0.21), NO_DATA, EIGHT_EDITS, TEN, False, id="text-0.2-at-0.21"),
        pytest.param(TEXT, NO_DATA, TEN + "X", TEN, True, id="text-insert-1-in-11"),
        pytest.param(threshold(TEXT, 0), NO_DATA, "abc", "xyz", True, id="text-threshold-0"),
        pytest.param(threshold(TEXT, 1), NO_DATA, "ab", "a b", False, id="text-space-is-a-char"),
        # rating
        pytest.param(RATING, NO_DATA, 3, 3, True, id="rating-equal"),
        pytest.param(RATING, NO_DATA, 3, 3.0, True, id="rating-int-vs-float"),
        pytest.param(RATING, NO_DATA, 3, 4, False, id="rating-off-by-1-tolerance-0"),
        pytest.param(RATING, NO_DATA, 3.5, 3, False, id="rating-off-by-0.5-tolerance-0"),
        pytest.param(tolerance(1), NO_DATA, 3, 4, True, id="rating-at-tolerance-above"),
        pytest.param(tolerance(1), NO_DATA, 4, 3, True, id="rating-at-tolerance-below"),
        pytest.param(tolerance(1), NO_DATA, 3, 4.5, False, id="rating-past-tolerance"),
        pytest.param(tolerance(0.5), NO_DATA, 2.5, 3, True, id="rating-at-tolerance-0.5"),
        pytest.param(tolerance(0.5), NO_DATA, 2.25, 3, False, id="rating-past-tolerance-0.5"),
        pytest.param(tolerance(0.25), NO_DATA, 1.5, 1.25, True, id="rating-at-tolerance-0.25"),
        # ranking, n = 3: 3 pairs, one adjacent swap gives tau (2 - 1) / 3
        pytest.param(RANKING, RANKING_DATA, [1, 2, 3], [1, 2, 3], True, id="rank3-same"),
        pytest.param(RANKING, RANKING_DATA, [2, 1, 3], [1, 2, 3], False, id="rank3-swap-default"),
        pytest.param(threshold(RANKING, 1 / 3), RANKING_DATA, [2, 1, 3], [1, 2, 3], True, id="rank3-swap-at-1/3"),
        pytest.param(threshold(RANKING, 0.33), RANKING_DATA, [1, 3, 2], [1, 2, 3], True, id="rank3-swap-at-0.33"),
        pytest.param(threshold(RANKING, 0.34), RANKING_DATA, [1, 3, 2], [1, 2, 3], False, id="rank3-swap-at-0.34"),
        pytest.param(threshold(RANKING, -1), RANKING_DATA, [3, 2, 1], [1, 2, 3], True, id="rank3-reverse-at--1"),
        pytest.param(threshold(RANKING, -0.99), RANKING_DATA, [3, 2, 1], [1, 2, 3], False, id="rank3-reverse-at--0.99"),
        pytest.param(threshold(RANKING, -1 / 3), RANKING_DATA, [3, 1, 2], [1, 2, 3], True, id="rank3-tau--1/3"),
        pytest.param(threshold(RANKING, 0), RANKING_DATA, [3, 1, 2], [1, 2, 3], False, id="rank3-tau--1/3-at-0"),
        # ranking, n = 4: 6 pairs, one adjacent swap gives tau (5 - 1) / 6 = 2/3
        pytest.param(RANKING, RANKING_DATA_4, [4, 3, 2, 1], [4, 3, 2, 1], True, id="rank4-same"),
        pytest.param(RANKING, RANKING_DATA_4, [1, 3, 2, 4], [1, 2, 3, 4], False, id="rank4-swap-default"),
        pytest.param(threshold(RANKING, 0.66), RANKING_DATA_4, [1, 3, 2, 4], [1, 2, 3, 4], True, id="rank4-swap-at-0.66"),
        pytest.param(threshold(RANKING, 2 / 3), RANKING_DATA_4, [2, 1, 3, 4], [1, 2, 3, 4], True, id="rank4-swap-at-2/3"),
        pytest.param(threshold(RANKING, 0.67), RANKING_DATA_4, [1, 2, 4, 3], [1, 2, 3, 4], False, id="rank4-swap-at-0.67"),
        pytest.param(threshold(RANKING, 0), RANKING_DATA_4, [2, 1, 4, 3], [1, 2, 3, 4], True, id="rank4-two-swaps-tau-1/3"),
        pytest.param(threshold(RANKING, 0.34), RANKING_DATA_4, [2, 1, 4, 3], [1, 2, 3, 4], False, id="rank4-two-swaps-at-0.34"),
        pytest.param(threshold(RANKING, 0), RANKING_DATA_4, [4, 1, 2, 3], [1, 2, 3, 4], True, id="rank4-tau-0-at-0"),
        pytest.param(RANKING, RANKING_DATA_STR, ["b", "a"], ["b", "a"], True, id="rank-str-same"),
        pytest.param(threshold(RANKING, -1), RANKING_DATA_STR, ["a", "b"], ["b", "a"], True, id="rank2-swap-is-reverse"),
        pytest.param(threshold(RANKING, -0.5), RANKING_DATA_STR, ["a", "b"], ["b", "a"], False, id="rank2-swap-at--0.5"),
        # bbox: [0,3]x[0,1] and [1,4]x[0,1] overlap on 2 of a union of 4, IoU exactly 0.5
        pytest.param(BBOX, NO_DATA, [box()], [box()], True, id="bbox-same"),
        pytest.param(BBOX, NO_DATA, [], [], True, id="bbox-both-empty"),
        pytest.param(BBOX, NO_DATA, [box(w=3, h=1)], [box(x=1, w=3, h=1)], True, id="bbox-iou-0.5-default"),
        pytest.param(threshold(BBOX, 0.51), NO_DATA, [box(w=3, h=1)], [box(x=1, w=3, h=1)], False, id="bbox-iou-0.5-at-0.51"),
        pytest.param(BBOX, NO_DATA, [box(w=2, h=1)], [box(x=1, w=2, h=1)], False, id="bbox-iou-1/3-default"),
        pytest.param(threshold(BBOX, 1 / 3), NO_DATA, [box(w=2, h=1)], [box(x=1, w=2, h=1)], True, id="bbox-iou-1/3-at-1/3"),
        pytest.param(BBOX, NO_DATA, [box(x=0.5, y=0.5, w=1, h=1)], [box(w=2, h=2)], False, id="bbox-inside-iou-0.25"),
        pytest.param(threshold(BBOX, 0.25), NO_DATA, [box(x=0.5, y=0.5, w=1, h=1)], [box(w=2, h=2)], True, id="bbox-inside-at-0.25"),
        pytest.param(BBOX, NO_DATA, [box(y=3, w=3, h=1)], [box(x=1, y=3, w=3, h=1)], True, id="bbox-iou-0.5-shifted-y"),
        pytest.param(BBOX, NO_DATA, [box(x=0, w=1, h=1)], [box(x=1, w=1, h=1)], False, id="bbox-touching"),
        pytest.param(BBOX, NO_DATA, [box(x=0, w=1, h=1)], [box(x=5, y=5, w=1, h=1)], False, id="bbox-disjoint"),
        pytest.param(BBOX, NO_DATA, [box("person")], [box("car")], False, id="bbox-label-differs"),
        pytest.param(BBOX, NO_DATA, [box()], [], False, id="bbox-extra-box"),
        pytest.param(BBOX, NO_DATA, [box()], [box(), box(x=50)], False, id="bbox-missing-box"),
        pytest.param(BBOX, NO_DATA, [box(), box()], [box()], False, id="bbox-duplicate-box"),
        pytest.param(BBOX, NO_DATA, [box(x=50), box("person")], [box("person"), box(x=50)], True, id="bbox-order-free"),
        pytest.param(BBOX, NO_DATA, [box(), box("person")], [box("person"), box("person")], False, id="bbox-labels-one-to-one"),
    ],
)  # fmt: skip
def test_gold_matches(fmt, data, answer, gold, expected):
    assert gold_matches(fmt, answer, gold, data) is expected


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("Hello   World", "  hello world\n"),
        ("HELLO\tWORLD", "hello world"),
        ("hello\n\nworld", "Hello World"),
        ("Straße", "STRASSE"),  # casefold, not lower: ß folds to ss
        ("ΣΊΣΥΦΟΣ", "σίσυφος"),  # final sigma folds like any sigma
        ("cafe\u0301", "Café"),  # decomposed accent is the same character
        ("\u00a0naïve\u3000résumé ", "NAÏVE RÉSUMÉ"),  # non-breaking and ideographic spaces
    ],
)
def test_text_matching_folds_case_and_whitespace(answer, gold):
    strict = threshold(TEXT, 1.0)

    assert gold_matches(strict, answer, gold, NO_DATA)
    assert gold_matches(strict, gold, answer, NO_DATA)


def test_bbox_finds_a_one_to_one_matching_where_greedy_fails():
    # Gold boxes side by side: [0,10] and [4,14]. Answer box A fits both (IoU 2/3 each); answer
    # box B is gold box 0 and fits only it (IoU with gold 1 is 6/14). Giving A its first fit,
    # gold 0, leaves B nothing; the matching A→gold 1, B→gold 0 exists.
    gold = [box(x=0), box(x=4)]
    answer = [box(x=2), box(x=0)]

    assert gold_matches(BBOX, answer, gold, NO_DATA)
    assert gold_matches(BBOX, list(reversed(answer)), gold, NO_DATA)
    assert gold_matches(BBOX, gold, answer, NO_DATA)


def test_bbox_refuses_when_two_answer_boxes_fit_only_the_same_gold_box():
    gold = [box(x=0), box(x=40)]
    answer = [box(x=1), box(x=2)]

    assert not gold_matches(BBOX, answer, gold, NO_DATA)


def test_bbox_matching_survives_an_augmenting_path_longer_than_the_recursion_limit():
    # Gold boxes in a row; answer box k fits gold k-1 (IoU 0.18) and gold k (IoU 0.54), and
    # tries gold k-1 first, so placing box k searches back through every earlier box.
    n = sys.getrecursionlimit() + 50
    gold = [box(x=10 * k) for k in range(n)]
    answer = [box(x=0)] + [box(x=10 * k - 3) for k in range(1, n)]
    fmt = threshold(BBOX, 0.1)

    assert gold_matches(fmt, answer, gold, NO_DATA)


def test_bbox_boxes_too_small_for_float_areas_match_nothing():
    tiny = [box(w=5e-324, h=5e-324)]

    assert not gold_matches(BBOX, tiny, tiny, NO_DATA)


# --- accuracy_estimate -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gold_correct", "gold_seen", "prior_correct", "prior_seen", "expected"),
    [
        (0, 0, 4, 5, 0.8),  # a new worker
        (5, 5, 4, 5, 0.9),
        (0, 5, 4, 5, 0.4),
        (3, 5, 4, 5, 0.7),
        (91, 95, 4, 5, 0.95),
        (0, 0, 0, 0, 0.0),
        (3, 4, 0, 0, 0.75),
        (0, 0, 1, 2, 0.5),
        (2.5, 5.0, 4.0, 5.0, 0.65),
    ],
)
def test_accuracy_estimate(gold_correct, gold_seen, prior_correct, prior_seen, expected):
    estimate = accuracy_estimate(
        gold_correct=gold_correct,
        gold_seen=gold_seen,
        prior_correct=prior_correct,
        prior_seen=prior_seen,
    )

    assert estimate == expected


def test_accuracy_estimate_takes_keywords_only():
    with pytest.raises(TypeError):
        accuracy_estimate(0, 0, 4, 5)


# --- properties --------------------------------------------------------------------------------

response_ids = st.one_of(
    st.lists(st.integers(), min_size=2, max_size=8, unique=True),
    st.lists(st.text(max_size=5), min_size=2, max_size=8, unique=True),
)


@given(st.data())
def test_any_permutation_has_tau_1_with_itself_and_minus_1_with_its_reverse(data):
    ids = data.draw(response_ids)
    order = data.draw(st.permutations(ids))
    task = ranking_data(ids)
    just_above_minus_1 = math.nextafter(-1.0, 0.0)

    assert gold_matches(threshold(RANKING, 1.0), order, order, task)
    assert gold_matches(threshold(RANKING, -1.0), order[::-1], order, task)
    assert not gold_matches(threshold(RANKING, just_above_minus_1), order[::-1], order, task)


@given(st.data())
def test_one_adjacent_swap_costs_exactly_two_pairs_of_tau(data):
    ids = data.draw(response_ids)
    gold = data.draw(st.permutations(ids))
    i = data.draw(st.integers(0, len(ids) - 2))
    answer = [*gold[:i], gold[i + 1], gold[i], *gold[i + 2 :]]
    pairs = len(ids) * (len(ids) - 1) // 2
    tau = (pairs - 2) / pairs
    task = ranking_data(ids)

    assert gold_matches(threshold(RANKING, tau), answer, gold, task)
    assert not gold_matches(threshold(RANKING, math.nextafter(tau, 2.0)), answer, gold, task)


label_sets = st.lists(st.sampled_from(MULTI_LABEL.labels), unique=True).map(
    lambda labels: answer_normalise(MULTI_LABEL, labels, NO_DATA)
)


@given(label_sets, label_sets, st.floats(0, 1))
def test_jaccard_is_symmetric(a, b, value):
    fmt = threshold(MULTI_LABEL, value)

    assert gold_matches(fmt, a, b, NO_DATA) == gold_matches(fmt, b, a, NO_DATA)


@given(st.lists(st.sampled_from(MULTI_LABEL.labels), unique=True), st.randoms())
def test_multi_label_answer_order_does_not_matter(labels, random):
    shuffled = random.sample(labels, len(labels))

    assert answer_normalise(MULTI_LABEL, shuffled, NO_DATA) == answer_normalise(
        MULTI_LABEL, labels, NO_DATA
    )


# What answer_normalise accepts: no NUL, no unpaired surrogates (category Cs), not blank.
texts = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1
).filter(str.strip)


@given(texts)
def test_text_similarity_of_a_string_with_itself_is_1(text):
    assert gold_matches(threshold(TEXT, 1.0), text, text, NO_DATA)
    assert gold_matches(threshold(TEXT, 1.0), f"  {text}\n", text, NO_DATA)


finite = {"allow_nan": False, "allow_infinity": False}
valid_answers = st.one_of(
    st.tuples(st.just(CLASSIFICATION), st.just(NO_DATA), st.sampled_from(CLASSIFICATION.labels)),
    st.tuples(st.just(MULTI_LABEL), st.just(NO_DATA), st.lists(st.sampled_from(MULTI_LABEL.labels), unique=True)),
    st.tuples(st.just(TEXT), st.just(NO_DATA), texts),
    st.tuples(st.just(RATING), st.just(NO_DATA), st.integers(1, 5) | st.floats(1, 5)),
    response_ids.flatmap(lambda ids: st.tuples(st.just(RANKING), st.just(ranking_data(ids)), st.permutations(ids))),
    st.tuples(
        st.just(BBOX),
        st.just(NO_DATA),
        st.lists(
            st.fixed_dictionaries(
                {
                    "h": st.integers(1, 10**6) | st.floats(1e-3, 1e6, **finite),
                    "w": st.integers(1, 10**6) | st.floats(1e-3, 1e6, **finite),
                    "y": st.integers(0, 10**6) | st.floats(0, 1e6, **finite),
                    "x": st.integers(0, 10**6) | st.floats(0, 1e6, **finite),
                    "label": st.sampled_from(BBOX.labels),
                }
            ),
            max_size=5,
        ),
    ),
)  # fmt: skip


@given(valid_answers)
def test_answer_normalise_is_idempotent(case):
    fmt, data, answer = case
    once = answer_normalise(fmt, answer, data)

    assert answer_normalise(fmt, once, data) == once


@given(valid_answers)
def test_every_valid_answer_matches_itself_as_gold(case):
    fmt, data, answer = case
    normalised = answer_normalise(fmt, answer, data)

    assert gold_matches(fmt, normalised, normalised, data)


def exact_iou(a: dict, b: dict) -> Fraction:
    overlap_w = max(0, min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]))
    overlap_h = max(0, min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]))
    intersection = overlap_w * overlap_h
    return Fraction(intersection, a["w"] * a["h"] + b["w"] * b["h"] - intersection)


small_boxes = st.lists(
    st.builds(
        box,
        label=st.sampled_from(BBOX.labels),
        x=st.integers(0, 12),
        y=st.integers(0, 3),
        w=st.integers(1, 8),
        h=st.integers(1, 3),
    ),
    max_size=5,
)


@given(small_boxes, small_boxes, st.sampled_from([0.25, 0.5, 0.75]))
def test_bbox_matching_agrees_with_trying_every_pairing(answer, gold, value):
    # Dyadic thresholds and integer boxes: the float IoU is on the same side of them as the exact one.
    any_pairing_fits = len(answer) == len(gold) and any(
        all(
            box_["label"] == gold_box["label"] and exact_iou(box_, gold_box) >= value
            for box_, gold_box in zip(answer, pairing, strict=True)
        )
        for pairing in itertools.permutations(gold)
    )

    assert gold_matches(threshold(BBOX, value), answer, gold, NO_DATA) is any_pairing_fits


@given(st.data())
def test_accuracy_estimate_stays_strictly_between_0_and_1_with_default_priors(data):
    gold_seen = data.draw(st.integers(0, 10**9))
    gold_correct = data.draw(st.integers(0, gold_seen))

    estimate = accuracy_estimate(
        gold_correct=gold_correct, gold_seen=gold_seen, prior_correct=4, prior_seen=5
    )

    assert 0 < estimate < 1
