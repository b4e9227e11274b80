"""qc.consensus: weighted consensus of one task's answers per task type, with its confidence.

Weights in the tables are dyadic (0.5, 0.25, 0.75, ...), so the expected confidences are exact
ratios, written as int / int and compared with ==: Python rounds int / int correctly, as the module
rounds its exact confidence once.
"""

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qc.consensus import Consensus, consensus
from qc.scoring import TASK_TYPES, AnswerFormat, answer_normalise

CLASSIFICATION = AnswerFormat("classification", labels=("dog", "cat", "bird"))
MULTI_LABEL = AnswerFormat("multi_label", labels=("cat", "dog", "bird", "fish"))
TEXT = AnswerFormat("text")
RATING = AnswerFormat("rating", scale_min=1, scale_max=5)
RANKING = AnswerFormat("ranking")
BBOX = AnswerFormat("bbox", labels=("car", "person"))

NO_DATA: dict = {}


def ranking_data(ids) -> dict:
    return {"responses": [{"id": id_, "text": f"response {id_!r}"} for id_ in ids]}


RANKING_DATA = ranking_data([1, 2, 3])


def box(label="car", x=0, y=0, w=10, h=10) -> dict:
    return {"label": label, "x": x, "y": y, "w": w, "h": h}


def box_key(box_: dict) -> tuple:
    return (box_["label"], box_["x"], box_["y"], box_["w"], box_["h"])


def run(fmt: AnswerFormat, judgments: list[tuple[object, float]], data=NO_DATA) -> Consensus:
    answers = [answer for answer, _ in judgments]
    weights = [weight for _, weight in judgments]
    return consensus(fmt, answers, weights, data)


# --- input checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "answers", "weights", "message_part"),
    [
        (CLASSIFICATION, ["dog", "cat"], [0.5], "2 answers but 1 weights"),
        (CLASSIFICATION, ["dog"], [0.5, 0.5], "1 answers but 2 weights"),
        (CLASSIFICATION, [], [], "at least one answer"),
        (CLASSIFICATION, ["dog"], [0], "weight 0 must be a finite number > 0"),
        (CLASSIFICATION, ["dog", "cat"], [0.5, 0.0], "weight 1 must be a finite number > 0"),
        (CLASSIFICATION, ["dog"], [-0.5], "weight 0 must be a finite number > 0"),
        (CLASSIFICATION, ["dog"], [float("nan")], "weight 0 must be a finite number > 0"),
        (CLASSIFICATION, ["dog"], [float("inf")], "weight 0 must be a finite number > 0"),
        (CLASSIFICATION, ["dog"], [True], "weight 0 must be a finite number > 0"),
        (CLASSIFICATION, ["dog"], ["0.5"], "weight 0 must be a finite number > 0"),
        (CLASSIFICATION, ["dog"], [None], "weight 0 must be a finite number > 0"),
        (AnswerFormat("poll"), ["yes"], [0.5], "task_type 'poll' has no consensus rule"),
    ],
)
def test_consensus_refuses_bad_input(fmt, answers, weights, message_part):
    with pytest.raises(ValueError) as error:
        consensus(fmt, answers, weights, NO_DATA)

    assert message_part in str(error.value)


def test_numpy_weights_are_accepted():
    weights = np.array([0.25, 0.5, 0.25], dtype=np.float32)

    result = consensus(CLASSIFICATION, ["dog", "cat", "cat"], weights, NO_DATA)

    assert result == Consensus("cat", 0.75)


def test_weights_above_1_count_by_their_ratio():
    assert run(CLASSIFICATION, [("dog", 3), ("cat", 1), ("cat", 1)]) == Consensus("dog", 0.6)


@pytest.mark.parametrize(
    ("fmt", "answer", "data"),
    [
        (CLASSIFICATION, "bird", NO_DATA),
        (MULTI_LABEL, ["dog", "fish"], NO_DATA),
        (MULTI_LABEL, [], NO_DATA),
        (TEXT, "A lone transcription", NO_DATA),
        (RATING, 2.5, NO_DATA),
        (RANKING, [3, 1, 2], RANKING_DATA),
        (BBOX, [box("car"), box("person", x=40)], NO_DATA),
        (BBOX, [], NO_DATA),
    ],
)
def test_a_single_answer_is_the_consensus_with_confidence_1(fmt, answer, data):
    result = consensus(fmt, [answer], [0.3], data)

    assert result == Consensus(answer, 1.0)


# --- classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("judgments", "expected"),
    [
        pytest.param([("cat", 0.5), ("cat", 0.25)], Consensus("cat", 1.0), id="unanimous"),
        pytest.param(
            [("dog", 0.5), ("dog", 0.5), ("cat", 0.5)], Consensus("dog", 2 / 3), id="majority"
        ),
        pytest.param(
            [("cat", 0.75), ("dog", 0.25), ("dog", 0.25)],
            Consensus("cat", 0.6),
            id="heavy-outvotes-two-light",
        ),
        pytest.param(
            [("bird", 0.5), ("cat", 0.25), ("cat", 0.125)],
            Consensus("bird", 4 / 7),
            id="weight-beats-count",
        ),
        pytest.param(
            [("cat", 0.5), ("dog", 0.5)], Consensus("dog", 0.5), id="tie-first-label-given-last"
        ),
        pytest.param(
            [("dog", 0.5), ("cat", 0.5)], Consensus("dog", 0.5), id="tie-first-label-given-first"
        ),
        pytest.param(
            [("bird", 0.5), ("cat", 0.5)], Consensus("cat", 0.5), id="tie-without-first-label"
        ),
        pytest.param(
            [("bird", 0.25), ("cat", 0.25), ("dog", 0.25)],
            Consensus("dog", 1 / 3),
            id="three-way-tie",
        ),
        pytest.param(
            [("bird", 0.25), ("cat", 0.5), ("dog", 0.25), ("bird", 0.25)],
            Consensus("cat", 0.4),
            id="tie-between-winners-only",
        ),
    ],
)
def test_classification(judgments, expected):
    assert run(CLASSIFICATION, judgments) == expected


def test_classification_sums_weights_exactly():
    # In floats 0.1 + 0.2 > 0.3: the two light workers really do carry more weight.
    result = run(CLASSIFICATION, [("cat", 0.1), ("cat", 0.2), ("dog", 0.3)])

    assert result.answer == "cat"
    cat = Fraction(0.1) + Fraction(0.2)
    assert result.confidence == float(cat / (cat + Fraction(0.3)))


# --- multi_label -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("judgments", "expected"),
    [
        pytest.param(
            [(["cat", "dog"], 0.5), (["cat", "dog"], 0.25)],
            Consensus(["cat", "dog"], 1.0),
            id="unanimous",
        ),
        pytest.param([([], 0.5), ([], 0.25)], Consensus([], 1.0), id="unanimous-none-apply"),
        pytest.param(
            [([], 0.5), ([], 0.5), (["bird"], 0.5)],
            Consensus([], 11 / 12),
            id="majority-none-apply",
        ),
        pytest.param([(["cat"], 0.5), ([], 0.5)], Consensus([], 7 / 8), id="half-is-out"),
        pytest.param(
            [(["dog"], 0.75), (["cat"], 0.25), (["cat"], 0.25)],
            Consensus(["dog"], 4 / 5),
            id="heavy-outvotes-two-light",
        ),
        pytest.param(
            [(["cat", "dog"], 0.5), (["cat"], 0.5), (["dog", "bird"], 0.5)],
            Consensus(["cat", "dog"], 0.75),
            id="per-label-majorities",
        ),
        pytest.param(
            [(["cat", "fish"], 0.5), (["bird", "fish"], 0.5), (["cat", "bird"], 0.5)],
            Consensus(["cat", "bird", "fish"], 3 / 4),
            id="in-labels-order",
        ),
    ],
)
def test_multi_label(judgments, expected):
    result = run(MULTI_LABEL, judgments)

    assert result == expected


# --- rating ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "judgments", "expected"),
    [
        pytest.param(RATING, [(4, 0.5), (4, 0.25)], Consensus(4, 1.0), id="unanimous"),
        pytest.param(
            RATING, [(1, 0.5), (3, 0.5), (5, 0.5)], Consensus(3, 1 / 3), id="median-not-mean"
        ),
        pytest.param(
            RATING,
            [(5, 0.75), (1, 0.25), (1, 0.25)],
            Consensus(5, 0.6),
            id="heavy-outvotes-two-light",
        ),
        pytest.param(RATING, [(2, 0.25), (4, 0.5)], Consensus(4, 2 / 3), id="weighted"),
        pytest.param(RATING, [(2, 0.5), (4, 0.5)], Consensus(2, 0.5), id="tie-lower-median"),
        pytest.param(
            RATING, [(4, 0.5), (2, 0.5)], Consensus(2, 0.5), id="tie-lower-median-given-last"
        ),
        pytest.param(
            RATING,
            [(1, 0.25), (2, 0.25), (4, 0.25), (5, 0.25)],
            Consensus(2, 0.25),
            id="tie-between-middle-values",
        ),
        pytest.param(RATING, [(2.5, 0.5), (2.5, 0.5), (1, 0.25)], Consensus(2.5, 0.8), id="floats"),
        pytest.param(
            replace(RATING, gold_tolerance=1),
            [(2, 0.5), (3, 0.5), (5, 0.5)],
            Consensus(3, 2 / 3),
            id="within-tolerance",
        ),
        pytest.param(
            replace(RATING, gold_tolerance=0.5),
            [(1, 0.25), (3, 0.5), (5, 0.25)],
            Consensus(3, 0.5),
            id="only-the-median-within-tolerance",
        ),
        pytest.param(
            replace(RATING, gold_tolerance=4),
            [(1, 0.25), (3, 0.5), (5, 0.25)],
            Consensus(3, 1.0),
            id="all-within-tolerance",
        ),
    ],
)
def test_rating(fmt, judgments, expected):
    assert run(fmt, judgments) == expected


@pytest.mark.parametrize("judgments", [[(3.0, 0.5), (3, 0.5)], [(3, 0.5), (3.0, 0.5)]])
def test_rating_equal_int_and_float_give_the_int_whatever_the_order(judgments):
    result = run(RATING, judgments)

    assert result == Consensus(3, 1.0)
    assert type(result.answer) is int


# --- ranking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "judgments", "expected"),
    [
        pytest.param(
            RANKING_DATA,
            [([2, 1, 3], 0.5), ([2, 1, 3], 0.25)],
            Consensus([2, 1, 3], 1.0),
            id="unanimous",
        ),
        pytest.param(
            RANKING_DATA,
            [([1, 2, 3], 0.5), ([1, 2, 3], 0.5), ([3, 2, 1], 0.5)],
            Consensus([1, 2, 3], 2 / 3),
            id="majority",
        ),
        pytest.param(
            RANKING_DATA,
            [([3, 2, 1], 0.75), ([1, 2, 3], 0.25), ([1, 2, 3], 0.25)],
            Consensus([3, 2, 1], 0.6),
            id="heavy-outvotes-two-light",
        ),
        pytest.param(
            RANKING_DATA,
            [([1, 2, 3], 0.5), ([2, 1, 3], 0.5)],
            Consensus([1, 2, 3], 5 / 6),
            id="tie-in-responses-order",
        ),
        pytest.param(
            RANKING_DATA,
            [([2, 1, 3], 0.5), ([1, 2, 3], 0.5)],
            Consensus([1, 2, 3], 5 / 6),
            id="tie-in-responses-order-given-last",
        ),
        pytest.param(
            ranking_data([3, 2, 1]),
            [([1, 2, 3], 0.5), ([3, 2, 1], 0.5)],
            Consensus([3, 2, 1], 0.5),
            id="full-tie-follows-the-responses",
        ),
        pytest.param(
            ranking_data(["a", "b"]),
            [(["b", "a"], 0.5), (["a", "b"], 0.5)],
            Consensus(["a", "b"], 0.5),
            id="string-ids",
        ),
        pytest.param(
            ranking_data([1, 2, 3, 4]),
            [([1, 2, 3, 4], 0.5), ([2, 1, 4, 3], 0.25), ([4, 3, 2, 1], 0.25)],
            # Borda 1: 1.5+.5+0 = 2, 2: 1+.75+.25 = 2, 3: .5+0+.5 = 1, 4: 0+.25+.75 = 1
            Consensus([1, 2, 3, 4], 2 / 3),
            id="borda-points",
        ),
    ],
)
def test_ranking(data, judgments, expected):
    assert run(RANKING, judgments, data) == expected


# --- text --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("judgments", "expected"),
    [
        pytest.param([("hello", 0.5), ("hello", 0.25)], Consensus("hello", 1.0), id="unanimous"),
        pytest.param(
            [("Hello  World", 0.5), ("hello world\n", 0.5)],
            Consensus("Hello  World", 1.0),
            id="case-and-whitespace-fold",
        ),
        pytest.param(
            [("cafe\u0301", 0.5), ("CAFÉ", 0.5)],
            Consensus("cafe\u0301", 1.0),
            id="unicode-folds",
        ),
        pytest.param(
            [("abcd", 0.5), ("abcd", 0.5), ("wxyz", 0.5)],
            Consensus("abcd", 2 / 3),
            id="majority",
        ),
        pytest.param(
            [("abcd", 0.25), ("abcd", 0.25), ("abce", 0.25)],
            Consensus("abcd", 11 / 12),
            id="near-miss",
        ),
        pytest.param(
            [("aaaa", 0.25), ("aaab", 0.25), ("aabb", 0.25)],
            Consensus("aaab", 5 / 6),
            id="medoid-is-the-middle",
        ),
        pytest.param(
            [("wxyz", 0.75), ("abcd", 0.25), ("abcd", 0.25)],
            Consensus("wxyz", 0.6),
            id="heavy-outvotes-two-light",
        ),
        pytest.param(
            [("abcd", 0.5), ("wxyz", 0.5)], Consensus("abcd", 0.5), id="tie-earliest-answer"
        ),
        pytest.param(
            [("wxyz", 0.5), ("abcd", 0.5)], Consensus("wxyz", 0.5), id="tie-earliest-answer-again"
        ),
        pytest.param(
            [("abcd", 0.25), ("abce", 0.25), ("abcf", 0.25)],
            Consensus("abcd", 5 / 6),
            id="three-way-tie",
        ),
    ],
)
def test_text(judgments, expected):
    assert run(TEXT, judgments) == expected


# --- bbox --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "judgments", "expected"),
    [
        pytest.param(
            BBOX, [([box()], 0.5), ([box()], 0.25)], Consensus([box()], 1.0), id="unanimous"
        ),
        pytest.param(BBOX, [([], 0.5), ([], 0.25)], Consensus([], 1.0), id="unanimous-no-box"),
        pytest.param(
            BBOX,
            [([], 0.5), ([], 0.5), ([box()], 0.5)],
            Consensus([], 1.0),
            id="majority-no-box",
        ),
        pytest.param(
            BBOX,
            [([box(x=0)], 0.5), ([box(x=100)], 0.5), ([box(x=200)], 0.5)],
            Consensus([], 0.0),
            id="boxes-but-no-agreement",
        ),
        pytest.param(
            BBOX,
            [([], 0.5), ([box(x=0)], 0.5), ([box(x=100)], 0.5)],
            Consensus([], 1 / 3),
            id="minority-no-box",
        ),
        pytest.param(
            BBOX, [([box()], 0.5), ([], 0.5)], Consensus([], 0.5), id="half-support-is-out"
        ),
        pytest.param(
            BBOX,
            [([box()], 0.75), ([], 0.25), ([], 0.25)],
            Consensus([box()], 0.6),
            id="heavy-outvotes-two-light",
        ),
        pytest.param(
            BBOX,
            [([box(x=0, w=10)], 0.75), ([box(x=2, w=12)], 0.25)],
            Consensus([box(x=0.5, w=10.5)], 1.0),
            id="weighted-mean-box",
        ),
        pytest.param(
            BBOX,
            [([box("car")], 0.5), ([box("person")], 0.5)],
            Consensus([], 0.0),
            id="labels-must-agree",
        ),
        pytest.param(
            replace(BBOX, gold_threshold=0.75),
            [([box(x=0)], 0.5), ([box(x=2)], 0.5)],  # IoU 80/120
            Consensus([], 0.0),
            id="below-the-iou-threshold",
        ),
        pytest.param(
            BBOX,
            [([box(x=0)], 0.5), ([box(x=2)], 0.5)],
            Consensus([box(x=1)], 1.0),
            id="above-the-iou-threshold",
        ),
        pytest.param(
            BBOX,
            [([box("person"), box("car", x=50), box("car")], 0.5)] * 2,
            Consensus([box("car"), box("car", x=50), box("person")], 1.0),
            id="sorted-by-label-x-y",
        ),
        pytest.param(
            BBOX,
            [([box(), box(x=50)], 0.5), ([box(x=50), box()], 0.5), ([box()], 0.5)],
            Consensus([box(), box(x=50)], 5 / 6),
            id="mean-support-of-kept-boxes",
        ),
        pytest.param(
            BBOX,
            [([box(), box(x=1)], 0.5), ([box()], 0.5)],
            Consensus([box()], 1.0),
            id="one-box-per-annotator-per-cluster",
        ),
        pytest.param(
            BBOX,
            [([box(), box()], 0.5), ([box(), box()], 0.5)],
            Consensus([box(), box()], 1.0),
            id="duplicate-boxes-kept-twice",
        ),
        pytest.param(
            replace(BBOX, gold_threshold=0.3),
            [([box(x=0), box(x=6)], 0.75), ([box(x=5)], 0.25)],
            # x=5 overlaps x=0 by 1/3 and x=6 by 9/11: it joins the best, not the first that fits
            Consensus([box(x=0), box(x=5.75)], 7 / 8),
            id="best-overlap-wins",
        ),
    ],
)
def test_bbox(fmt, judgments, expected):
    assert run(fmt, judgments) == expected


def test_bbox_identical_boxes_too_small_for_a_float_area_still_agree():
    tiny = box(w=5e-324, h=5e-324)

    assert run(BBOX, [([tiny], 0.5), ([tiny], 0.5)]) == Consensus([tiny], 1.0)


def test_bbox_answer_boxes_are_new_dicts():
    given = [box()]

    result = run(BBOX, [(given, 0.5)])

    assert result.answer == given
    assert result.answer[0] is not given[0]


# --- properties --------------------------------------------------------------------------------

weights = st.floats(min_value=0, max_value=1, exclude_min=True, exclude_max=True)

# What answer_normalise accepts: no NUL, no unpaired surrogates (category Cs), not blank; plus
# near-duplicates, so that folding, ties and near misses come up often.
texts = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1),
    st.sampled_from(["Hello world", "hello  World", "Hello, world!", "help", "héllo", "x"]),
).filter(str.strip)

coordinates = st.integers(0, 30) | st.floats(0, 30)
sizes = st.integers(1, 20) | st.floats(0, 20, exclude_min=True)
boxes = st.builds(box, label=st.sampled_from(BBOX.labels), x=coordinates, y=coordinates, w=sizes, h=sizes)  # fmt: skip

response_ids = st.one_of(
    st.lists(st.integers(), min_size=2, max_size=6, unique=True),
    st.lists(st.text(max_size=3), min_size=2, max_size=6, unique=True),
)


@st.composite
def formats(draw, task_type: str) -> tuple[AnswerFormat, dict, st.SearchStrategy]:
    """A format, task data, and a strategy for normalised answers to that task."""
    if task_type == "classification":
        return CLASSIFICATION, NO_DATA, st.sampled_from(CLASSIFICATION.labels)
    if task_type == "multi_label":
        label_sets = st.lists(st.sampled_from(MULTI_LABEL.labels), unique=True)
        return MULTI_LABEL, NO_DATA, label_sets.map(lambda a: answer_normalise(MULTI_LABEL, a, {}))
    if task_type == "text":
        return TEXT, NO_DATA, texts
    if task_type == "rating":
        fmt = replace(RATING, gold_tolerance=draw(st.sampled_from([0, 0.5, 1, 4])))
        return fmt, NO_DATA, st.integers(1, 5) | st.floats(1, 5)
    if task_type == "ranking":
        ids = draw(response_ids)
        return RANKING, ranking_data(ids), st.permutations(ids)
    assert task_type == "bbox"
    fmt = replace(BBOX, gold_threshold=draw(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])))
    return fmt, NO_DATA, st.lists(boxes, max_size=4)


@st.composite
def tasks(draw, task_type: str) -> tuple[AnswerFormat, dict, list, list[float]]:
    fmt, data, answers = draw(formats(task_type))
    judgments = draw(st.lists(st.tuples(answers, weights), min_size=1, max_size=7))
    return fmt, data, [answer for answer, _ in judgments], [weight for _, weight in judgments]


@pytest.mark.parametrize("task_type", TASK_TYPES)
@given(st.data())
def test_the_consensus_is_a_valid_answer_with_a_confidence_in_0_1(task_type, data):
    fmt, task, answers, weights_ = data.draw(tasks(task_type))

    result = consensus(fmt, answers, weights_, task)

    assert answer_normalise(fmt, result.answer, task) == result.answer
    assert type(result.confidence) is float
    assert 0 <= result.confidence <= 1


@pytest.mark.parametrize("task_type", [t for t in TASK_TYPES if t != "text"])
@given(st.data())
def test_the_order_of_the_judgments_does_not_matter(task_type, data):
    fmt, task, answers, weights_ = data.draw(tasks(task_type))
    order = data.draw(st.permutations(range(len(answers))))

    result = consensus(fmt, answers, weights_, task)
    permuted = consensus(fmt, [answers[i] for i in order], [weights_[i] for i in order], task)

    assert permuted == result


@given(st.data())
def test_text_order_only_decides_between_equally_central_answers(data):
    fmt, _, answers, weights_ = data.draw(tasks("text"))
    order = data.draw(st.permutations(range(len(answers))))
    judgments = list(zip(answers, weights_, strict=True))

    result = run(fmt, judgments)
    permuted = run(fmt, [judgments[i] for i in order])

    assert permuted.confidence == result.confidence
    # Both winners are among the most central: given first, either one wins.
    for winner in {result.answer, permuted.answer}:
        first = next(i for i, (answer, _) in enumerate(judgments) if answer == winner)
        moved = [judgments[first], *judgments[:first], *judgments[first + 1 :]]
        assert run(fmt, moved) == Consensus(winner, result.confidence)


@pytest.mark.parametrize("task_type", TASK_TYPES)
@given(st.data())
def test_unanimous_judgments_give_that_answer_with_confidence_1(task_type, data):
    fmt, task, answers = data.draw(formats(task_type))
    answer = data.draw(answers)
    weights_ = data.draw(st.lists(weights, min_size=1, max_size=7))

    result = consensus(fmt, [answer] * len(weights_), weights_, task)

    expected = sorted(answer, key=box_key) if task_type == "bbox" else answer
    assert result == Consensus(expected, 1.0)


def test_unanimous_thin_boxes_that_nearly_coincide_each_keep_their_own_box():
    # Found by the property above: two 1e-9-high boxes 1e-9 apart have an IoU that rounded
    # past 1 (cancellation in the union), which outranked each box's identical twin, so both
    # came back averaged.
    fmt = replace(BBOX, gold_threshold=0.0)
    answer = [box(x=0, y=0, w=1, h=1), box(x=0, y=1, w=1, h=1e-9), box(x=1e-9, y=1, w=1, h=1e-9)]

    result = consensus(fmt, [answer, answer], [0.5, 0.5], NO_DATA)

    assert result == Consensus(sorted(answer, key=box_key), 1.0)


@pytest.mark.parametrize("task_type", TASK_TYPES)
@given(st.data())
def test_only_the_ratios_of_the_weights_matter(task_type, data):
    fmt, task, answers, weights_ = data.draw(tasks(task_type))

    doubled = consensus(fmt, answers, [2 * weight for weight in weights_], task)

    assert doubled == consensus(fmt, answers, weights_, task)


@given(st.data())
def test_classification_winner_has_the_most_weight(data):
    fmt, task, answers, weights_ = data.draw(tasks("classification"))

    result = consensus(fmt, answers, weights_, task)

    def support(label):
        return sum(Fraction(w) for a, w in zip(answers, weights_, strict=True) if a == label)

    assert all(support(result.answer) >= support(label) for label in fmt.labels)


@given(st.data())
def test_rating_consensus_is_one_of_the_answers(data):
    fmt, task, answers, weights_ = data.draw(tasks("rating"))

    result = consensus(fmt, answers, weights_, task)

    assert result.answer in answers
