"""Answer formats, answer validation and gold matching per task type (SPEC §5), and the §6 estimate.

Pure: no Django, no database. Callers build an `AnswerFormat` from a project's settings, check it
once with `answer_format_check`, check each task's data with `task_data_check`, and then run
`answer_normalise` on every answer (worker or gold) before storing it and `gold_matches` on the
stored forms. Every refusal is an `AnswerError` whose text is safe to show to the user.
"""

import math
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

TASK_TYPES = ("classification", "multi_label", "text", "rating", "ranking", "bbox")
LABEL_TYPES = frozenset({"classification", "multi_label", "bbox"})
DEFAULT_GOLD_THRESHOLD = {"multi_label": 1.0, "text": 0.9, "ranking": 1.0, "bbox": 0.5}
TEXT_MAX_CHARS = 100_000
BOX_KEYS = ("label", "x", "y", "w", "h")


class AnswerError(ValueError):
    """Bad answer/data/gold; str(error) is a user-facing message naming the problem.

    `field` names the project setting at fault when the format itself is refused.
    """

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class AnswerFormat:
    task_type: str
    labels: tuple[str, ...] = ()
    scale_min: float | None = None
    scale_max: float | None = None
    gold_threshold: float | None = None
    gold_tolerance: float = 0.0

    def __post_init__(self) -> None:
        # Labels arrive as JSON lists; a tuple keeps the format hashable and equal to its twin.
        if isinstance(self.labels, list):
            object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def threshold(self) -> float | None:
        """The gold threshold in force: the project's, else the type's default; None if unused."""
        if self.task_type not in DEFAULT_GOLD_THRESHOLD:
            return None
        if self.gold_threshold is None:
            return DEFAULT_GOLD_THRESHOLD[self.task_type]
        return self.gold_threshold


def _is_number(value: object) -> bool:
    # bool is an int subclass; True must not pass for 1. The bound also refuses NaN, ±inf and ints
    # too large to become a float, which would otherwise raise OverflowError mid-arithmetic.
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and abs(value) <= sys.float_info.max
    )


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _labels_text(fmt: AnswerFormat) -> str:
    return ", ".join(fmt.labels)


def _text_problem(text: str) -> str | None:
    # PostgreSQL's jsonb cannot hold U+0000, and no driver can encode an unpaired surrogate as
    # UTF-8: either would be a 500 at save time instead of a 400 here.
    if "\x00" in text:
        return "NUL (U+0000) characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "unpaired surrogate characters"
    return None


def storable_check(value: object, *, what: str) -> None:
    """Refuse a JSON value the database could not store (NUL, lone surrogates, NaN)."""
    if problem := _unstorable(value):
        raise AnswerError(f"{what} must not contain {problem}")


def _unstorable(value: object) -> str | None:
    """What in a JSON value the database could not store, if anything."""
    pending = [value]  # a stack, not recursion: nesting depth is the client's choice
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and (problem := _text_problem(item)):
            return problem
        elif isinstance(item, float) and not math.isfinite(item):
            return "NaN or infinite numbers"
    return None


# --- the format itself -------------------------------------------------------------------------


def answer_format_check(fmt: AnswerFormat) -> None:
    """Refuse settings no answer could be judged against; the message names the field."""
    if fmt.task_type not in TASK_TYPES:
        raise AnswerError(
            f"task_type {fmt.task_type!r} is unknown; use one of: {', '.join(TASK_TYPES)}",
            field="task_type",
        )
    if fmt.task_type in LABEL_TYPES:
        _labels_check(fmt.labels)
    if fmt.task_type == "rating":
        _scale_check(fmt.scale_min, fmt.scale_max)
    if fmt.threshold is not None:
        lowest = -1 if fmt.task_type == "ranking" else 0
        if not (_is_number(fmt.threshold) and lowest <= fmt.threshold <= 1):
            raise AnswerError(
                f"gold_threshold must be a number between {lowest} and 1", field="gold_threshold"
            )
    if not (_is_number(fmt.gold_tolerance) and fmt.gold_tolerance >= 0):
        raise AnswerError("gold_tolerance must be a number >= 0", field="gold_tolerance")


def _labels_check(labels: object) -> None:
    if not isinstance(labels, tuple) or not labels:
        raise AnswerError("labels must be a non-empty list of strings", field="labels")
    seen = set()
    for index, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise AnswerError(f"labels: label {index} must be a non-blank string", field="labels")
        if problem := _text_problem(label):
            raise AnswerError(f"labels: label {index} must not contain {problem}", field="labels")
        if label in seen:
            raise AnswerError(f"labels: {label!r} is listed more than once", field="labels")
        seen.add(label)


def _scale_check(scale_min: object, scale_max: object) -> None:
    if not (_is_number(scale_min) and _is_number(scale_max)):
        raise AnswerError("scale: min and max must both be numbers", field="scale")
    if not scale_min < scale_max:
        raise AnswerError("scale: min must be less than max", field="scale")


# --- task data ---------------------------------------------------------------------------------


def task_data_check(fmt: AnswerFormat, data: object) -> None:
    """Refuse task data the workers could not answer in this format."""
    if not isinstance(data, dict):
        raise AnswerError("task data must be a JSON object")
    if problem := _unstorable(data):
        raise AnswerError(f"task data must not contain {problem}")
    if fmt.task_type == "ranking":
        _response_ids(data)


def _is_response_id(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _response_ids(data: dict) -> list[str | int]:
    responses = data.get("responses")
    if not isinstance(responses, list) or len(responses) < 2:
        raise AnswerError("ranking task data needs responses: a list of at least 2 {id, text}")
    ids = []
    for index, response in enumerate(responses):
        if not isinstance(response, dict) or not {"id", "text"} <= response.keys():
            raise AnswerError(f"response {index} must be an object with id and text")
        if not _is_response_id(response["id"]):
            raise AnswerError(f"response {index}: id must be a string or an integer")
        if not isinstance(response["text"], str):
            raise AnswerError(f"response {index}: text must be a string")
        if response["id"] in ids:
            raise AnswerError(f"response {index}: id {response['id']!r} is used more than once")
        ids.append(response["id"])
    return ids


# --- answers -----------------------------------------------------------------------------------


def answer_normalise(fmt: AnswerFormat, answer: object, data: dict) -> object:
    """Return the canonical form of a worker's or a gold answer, or raise AnswerError."""
    return _NORMALISERS[fmt.task_type](fmt, answer, data)


def _classification_normalise(fmt: AnswerFormat, answer: object, data: dict) -> str:
    if not isinstance(answer, str):
        raise AnswerError(f"answer must be a string, one of the labels: {_labels_text(fmt)}")
    if answer not in fmt.labels:
        raise AnswerError(f"{answer!r} is not one of the labels: {_labels_text(fmt)}")
    return answer


def _multi_label_normalise(fmt: AnswerFormat, answer: object, data: dict) -> list[str]:
    if not isinstance(answer, list):
        raise AnswerError(f"answer must be a list of labels from: {_labels_text(fmt)}")
    chosen = set()
    for label in answer:
        if not isinstance(label, str) or label not in fmt.labels:
            raise AnswerError(f"{label!r} is not one of the labels: {_labels_text(fmt)}")
        if label in chosen:
            raise AnswerError(f"{label!r} is listed more than once")
        chosen.add(label)
    # One order for equal sets, so an identical resubmit in another order stores the same answer.
    return [label for label in fmt.labels if label in chosen]


def _text_normalise(fmt: AnswerFormat, answer: object, data: dict) -> str:
    if not isinstance(answer, str):
        raise AnswerError("answer must be a string")
    if len(answer) > TEXT_MAX_CHARS:
        raise AnswerError(f"answer must be at most {TEXT_MAX_CHARS} characters, got {len(answer)}")
    if not answer.strip():
        raise AnswerError("answer must contain a non-blank character")
    if problem := _text_problem(answer):
        raise AnswerError(f"answer must not contain {problem}")
    return answer


def _rating_normalise(fmt: AnswerFormat, answer: object, data: dict) -> float:
    if not (_is_number(answer) and fmt.scale_min <= answer <= fmt.scale_max):
        raise AnswerError(
            f"rating must be a number between {_number_text(fmt.scale_min)}"
            f" and {_number_text(fmt.scale_max)}"
        )
    return answer


def _ranking_normalise(fmt: AnswerFormat, answer: object, data: dict) -> list[str | int]:
    ids = _response_ids(data)
    problem = _permutation_problem(answer, ids)
    if problem:
        listed = ", ".join(str(id_) for id_ in ids)
        raise AnswerError(f"ranking must be a permutation of the response ids {listed}: {problem}")
    return list(answer)


def _permutation_problem(answer: object, ids: list[str | int]) -> str | None:
    if not isinstance(answer, list):
        return "the answer is not a list"
    # Keyed by type too: 1.0 and True equal 1 in Python but are not the id 1 a client must echo.
    expected = {(type(id_), id_) for id_ in ids}
    seen = set()
    for item in answer:
        key = (type(item), item) if _is_response_id(item) else None
        if key not in expected:
            return f"id {item!r} is unknown"
        if key in seen:
            return f"id {item!r} is listed more than once"
        seen.add(key)
    missing = [id_ for id_ in ids if (type(id_), id_) not in seen]
    if missing:
        return f"id {missing[0]!r} is missing"
    return None


def _bbox_normalise(fmt: AnswerFormat, answer: object, data: dict) -> list[dict]:
    if not isinstance(answer, list):
        raise AnswerError("answer must be a list of boxes {label, x, y, w, h}")
    return [_box_normalise(fmt, index, box) for index, box in enumerate(answer)]


def _box_normalise(fmt: AnswerFormat, index: int, box: object) -> dict:
    if not isinstance(box, dict):
        raise AnswerError(f"box {index} must be an object {{label, x, y, w, h}}")
    missing = [key for key in BOX_KEYS if key not in box]
    if missing:
        raise AnswerError(f"box {index} is missing {', '.join(missing)}")
    unknown = sorted(str(key) for key in box if key not in BOX_KEYS)
    if unknown:
        raise AnswerError(f"box {index} has unknown keys: {', '.join(unknown)}")
    label = box["label"]
    if not isinstance(label, str) or label not in fmt.labels:
        raise AnswerError(
            f"box {index}: label {label!r} is not one of the labels: {_labels_text(fmt)}"
        )
    for key in ("x", "y"):
        if not (_is_number(box[key]) and box[key] >= 0):
            raise AnswerError(f"box {index}: {key} must be a number >= 0")
    for key in ("w", "h"):
        if not (_is_number(box[key]) and box[key] > 0):
            raise AnswerError(f"box {index}: {key} must be a number > 0")
    return {key: box[key] for key in BOX_KEYS}


_NORMALISERS: dict[str, Callable[[AnswerFormat, object, dict], object]] = {
    "classification": _classification_normalise,
    "multi_label": _multi_label_normalise,
    "text": _text_normalise,
    "rating": _rating_normalise,
    "ranking": _ranking_normalise,
    "bbox": _bbox_normalise,
}


# --- gold matching -----------------------------------------------------------------------------
# Ratios are computed with one division each, so a ratio that is exactly a decimal threshold
# (2/10 against 0.2) rounds to the same float as the threshold and passes.


def gold_matches(fmt: AnswerFormat, answer: object, gold: object, data: dict) -> bool:
    """Whether a normalised answer counts as correct against a normalised gold answer."""
    return _MATCHERS[fmt.task_type](fmt, answer, gold)


def _classification_matches(fmt: AnswerFormat, answer: str, gold: str) -> bool:
    return answer == gold


def _multi_label_matches(fmt: AnswerFormat, answer: list[str], gold: list[str]) -> bool:
    union = set(answer) | set(gold)
    if not union:  # both chose "none apply"
        return True
    return len(set(answer) & set(gold)) / len(union) >= fmt.threshold


def text_fold(text: str) -> str:
    # NFD before casefold and NFC after: "é" typed as one code point or as e + accent must be the
    # same single character, or one accent costs two edits.
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())
    return " ".join(folded.split())


def _text_matches(fmt: AnswerFormat, answer: str, gold: str) -> bool:
    answer, gold = text_fold(answer), text_fold(gold)
    longest = max(len(answer), len(gold))  # never 0: normalised text has a non-blank character
    # Not Levenshtein.normalized_similarity: it returns 1 - d/n, two roundings, so 1 - 8/10 comes
    # out as 0.19999999999999996 and would fail a threshold of exactly 0.2.
    return (longest - Levenshtein.distance(answer, gold)) / longest >= fmt.threshold


def _rating_matches(fmt: AnswerFormat, answer: float, gold: float) -> bool:
    return abs(answer - gold) <= fmt.gold_tolerance


def _ranking_matches(fmt: AnswerFormat, answer: list, gold: list) -> bool:
    gold_position = {(type(id_), id_): position for position, id_ in enumerate(gold)}
    positions = [gold_position[(type(id_), id_)] for id_ in answer]
    n = len(positions)
    concordant = sum(positions[i] < positions[j] for i in range(n) for j in range(i + 1, n))
    pairs = n * (n - 1) // 2
    tau = (concordant - (pairs - concordant)) / pairs
    return tau >= fmt.threshold


def box_geometry(box: dict) -> tuple[float, float, float, float]:
    # In float: int coordinates would make exact huge int areas that overflow when mixed with floats.
    return float(box["x"]), float(box["y"]), float(box["w"]), float(box["h"])


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    overlap_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    overlap_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    intersection = overlap_w * overlap_h
    union = aw * ah + bw * bh - intersection
    # Boxes below float resolution have areas that underflow to 0; they match nothing. For
    # nearly identical thin boxes the subtraction above cancels and the ratio can round past 1.
    return min(1.0, intersection / union) if union > 0 else 0.0


def _bbox_matches(fmt: AnswerFormat, answer: list[dict], gold: list[dict]) -> bool:
    if len(answer) != len(gold):
        return False
    # Geometry once per box: the pairs are n², and dense images have hundreds of boxes.
    answer_boxes = [(box["label"], box_geometry(box)) for box in answer]
    gold_boxes = [(box["label"], box_geometry(box)) for box in gold]
    candidates = [
        [
            gold_index
            for gold_index, (gold_label, gold_geometry) in enumerate(gold_boxes)
            if gold_label == label and box_iou(geometry, gold_geometry) >= fmt.threshold
        ]
        for label, geometry in answer_boxes
    ]
    return _has_perfect_matching(candidates, len(gold))


def _has_perfect_matching(candidates: list[list[int]], right_size: int) -> bool:
    """Kuhn's augmenting paths: can every left vertex get its own right vertex?

    Greedy assignment is not enough: a box taking the first gold box it fits can steal the only
    gold box another answer box fits. The search is iterative because an augmenting path can be
    as long as the number of boxes, past Python's recursion limit on dense images.
    """
    owner: list[int | None] = [None] * right_size
    for root in range(len(candidates)):
        visited: set[int] = set()
        frames = [(root, iter(candidates[root]))]
        taking: list[int] = []  # taking[k]: the right vertex frames[k] is trying to take
        while frames:
            options = frames[-1][1]
            right = next((r for r in options if r not in visited), None)
            if right is None:
                frames.pop()
                if taking:
                    taking.pop()
                continue
            visited.add(right)
            taking.append(right)
            if owner[right] is None:  # a free right vertex: shift every owner along the path
                for (path_left, _), path_right in zip(frames, taking, strict=True):
                    owner[path_right] = path_left
                break
            frames.append((owner[right], iter(candidates[owner[right]])))
        else:  # no augmenting path, so no matching can cover this left vertex
            return False
    return True


_MATCHERS: dict[str, Callable[[AnswerFormat, object, object], bool]] = {
    "classification": _classification_matches,
    "multi_label": _multi_label_matches,
    "text": _text_matches,
    "rating": _rating_matches,
    "ranking": _ranking_matches,
    "bbox": _bbox_matches,
}


# --- accuracy ----------------------------------------------------------------------------------


def accuracy_estimate(
    *, gold_correct: float, gold_seen: float, prior_correct: float, prior_seen: float
) -> float:
    """SPEC §6: gold results smoothed by the project's prior, so a few answers cannot reach 0 or 1."""
    seen = gold_seen + prior_seen
    if seen == 0:
        return 0.0
    return (gold_correct + prior_correct) / seen
