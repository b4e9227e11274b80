"""Consensus of one task's trusted judgments, per task type, weighted by accuracy (SPEC §6).

Pure: no Django, no database. `consensus` takes the answers of one task, already normalised by
`scoring.answer_normalise`, and the accuracy estimates of the workers who gave them, and returns
the agreed answer in the same normalised form with a confidence in [0, 1].

Weights are summed as exact fractions of the floats given: a tie is then a real tie whatever the
input order, a weight share of exactly one half is recognised as such, and the only rounding is
the final conversion of the confidence to a float. Only the ratios of the weights matter, so any
positive finite weights are accepted, not just estimates in (0, 1).

Tie rules, all independent of the order of the input:
- classification: the label listed first in `fmt.labels`;
- multi_label and bbox: a label or box backed by exactly half the weight is left out;
- rating: the lower weighted median;
- ranking: the order of `data["responses"]`.
The one exception is text, where of equally central answers the earliest one given wins.
"""

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from rapidfuzz.distance import Levenshtein

# The private helpers keep consensus folding text and measuring overlap exactly as gold matching
# does; they are to become public in scoring.
from qc.scoring import AnswerFormat, box_geometry, box_iou, gold_matches, text_fold

GEOMETRY_KEYS = ("x", "y", "w", "h")


@dataclass(frozen=True)
class Consensus:
    answer: object  # in the same normalised form as answers of the task type (qc.scoring)
    confidence: float  # in [0, 1]


def consensus(
    fmt: AnswerFormat, answers: Sequence[object], weights: Sequence[float], data: dict
) -> Consensus:
    """The weighted consensus of one task's normalised answers; `weights` pair with `answers`.

    Raises ValueError for an unknown task type, no answers, lengths that differ, or a weight that
    is not a finite number > 0.
    """
    if fmt.task_type not in _CONSENSUS:
        raise ValueError(f"task_type {fmt.task_type!r} has no consensus rule")
    if len(answers) != len(weights):
        raise ValueError(f"{len(answers)} answers but {len(weights)} weights")
    if len(answers) == 0:
        raise ValueError("consensus needs at least one answer")
    return _CONSENSUS[fmt.task_type](fmt, list(answers), _exact_weights(weights), data)


def _exact_weights(weights: Sequence[float]) -> list[Fraction]:
    exact = []
    for index, weight in enumerate(weights):
        if (
            isinstance(weight, bool)
            or not isinstance(weight, numbers.Real)
            or not (math.isfinite(weight) and weight > 0)
        ):
            raise ValueError(f"weight {index} must be a finite number > 0, got {weight!r}")
        exact.append(Fraction(float(weight)))  # float() first: numpy's float32 is no float
    return exact


def _classification_consensus(
    fmt: AnswerFormat, answers: list[str], weights: list[Fraction], data: dict
) -> Consensus:
    support: dict[str, Fraction] = {}
    for label, weight in zip(answers, weights, strict=True):
        support[label] = support.get(label, 0) + weight
    position = {label: index for index, label in enumerate(fmt.labels)}
    winner = min(support, key=lambda label: (-support[label], position[label]))
    return Consensus(winner, float(support[winner] / sum(weights)))


def _multi_label_consensus(
    fmt: AnswerFormat, answers: list[list[str]], weights: list[Fraction], data: dict
) -> Consensus:
    if not fmt.labels:  # no label to vote on, so every answer is the empty one
        return Consensus([], 1.0)
    total = sum(weights)
    chosen = []
    agreement = Fraction(0)  # per label, the weight on the winning side of "in" or "out"
    for label in fmt.labels:
        support = sum((w for a, w in zip(answers, weights, strict=True) if label in a), Fraction(0))
        if 2 * support > total:  # exactly half is no majority: the label stays out
            chosen.append(label)
        agreement += max(support, total - support)
    return Consensus(chosen, float(agreement / (total * len(fmt.labels))))


def _rating_consensus(
    fmt: AnswerFormat, answers: list[float], weights: list[Fraction], data: dict
) -> Consensus:
    total = sum(weights)
    # An int before an equal float, so 3 and 3.0 given in either order yield the same median.
    ranked = sorted(
        zip(answers, weights, strict=True), key=lambda pair: (pair[0], isinstance(pair[0], float))
    )
    at_or_below = Fraction(0)
    for value, weight in ranked:
        at_or_below += weight
        # Equality means the weight splits exactly in half here: the lower median is taken.
        if 2 * at_or_below >= total:
            median = value
            break
    # "Within tolerance" as gold matching means it, so the two never disagree at the boundary.
    near = sum(
        (w for a, w in zip(answers, weights, strict=True) if gold_matches(fmt, a, median, data)),
        Fraction(0),
    )
    return Consensus(median, float(near / total))


def _ranking_consensus(
    fmt: AnswerFormat, answers: list[list], weights: list[Fraction], data: dict
) -> Consensus:
    ids = [response["id"] for response in data["responses"]]
    last = len(ids) - 1
    points = dict.fromkeys(ids, Fraction(0))
    for answer, weight in zip(answers, weights, strict=True):
        for position, id_ in enumerate(answer):
            points[id_] += weight * (last - position)
    result = sorted(ids, key=lambda id_: -points[id_])  # stable: ties keep the responses' order
    agreement = sum(
        (w * _concordance(a, result) for a, w in zip(answers, weights, strict=True)), Fraction(0)
    )
    return Consensus(result, float(agreement / sum(weights)))


def _concordance(answer: list, reference: list) -> Fraction:
    """Kendall tau mapped from [-1, 1] to [0, 1]: the share of pairs both orders agree on."""
    reference_position = {id_: position for position, id_ in enumerate(reference)}
    positions = [reference_position[id_] for id_ in answer]
    n = len(positions)
    pairs = n * (n - 1) // 2
    if pairs == 0:
        return Fraction(1)
    concordant = sum(positions[i] < positions[j] for i in range(n) for j in range(i + 1, n))
    return Fraction(concordant, pairs)


def _text_consensus(
    fmt: AnswerFormat, answers: list[str], weights: list[Fraction], data: dict
) -> Consensus:
    folded = [text_fold(answer) for answer in answers]
    n = len(answers)
    similarity = [[Fraction(1)] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            similarity[i][j] = similarity[j][i] = _text_similarity(folded[i], folded[j])
    centrality = [
        sum((w * s for w, s in zip(weights, row, strict=True)), Fraction(0)) for row in similarity
    ]
    best = max(range(n), key=centrality.__getitem__)  # max keeps the first: the earliest answer
    return Consensus(answers[best], float(centrality[best] / sum(weights)))


def _text_similarity(a: str, b: str) -> Fraction:
    """1 - normalised edit distance of two folded texts, as SPEC §5 measures text against gold."""
    longest = max(len(a), len(b))
    if longest == 0:
        return Fraction(1)
    return Fraction(longest - Levenshtein.distance(a, b), longest)


@dataclass
class _Cluster:
    label: str
    seed: tuple[float, float, float, float]  # the geometry later boxes are compared against
    members: list[tuple[Fraction, dict]] = field(default_factory=list)  # (weight, box)

    @property
    def support(self) -> Fraction:
        return sum((weight for weight, _ in self.members), Fraction(0))

    def box(self) -> dict:
        support = self.support
        # Exact, then rounded once: the mean lies between its members, so it stays a valid box
        # (w, h > 0 even for subnormal sizes) and identical members give back exactly their box.
        mean = {
            key: float(sum(weight * Fraction(box[key]) for weight, box in self.members) / support)
            for key in GEOMETRY_KEYS
        }
        return {"label": self.label, **mean}


def _bbox_consensus(
    fmt: AnswerFormat, answers: list[list[dict]], weights: list[Fraction], data: dict
) -> Consensus:
    total = sum(weights)
    # Heaviest annotators seed the clusters; among equal weights the boxes decide, never the
    # order the answers came in.
    annotators = sorted(
        range(len(answers)),
        key=lambda i: (-weights[i], sorted(_box_key(box) for box in answers[i])),
    )
    clusters: list[_Cluster] = []
    for i in annotators:
        _clusters_join(clusters, sorted(answers[i], key=_box_key), weights[i], fmt.threshold)
    kept = [cluster for cluster in clusters if 2 * cluster.support > total]
    if not kept:
        empty = sum((w for a, w in zip(answers, weights, strict=True) if not a), Fraction(0))
        # A majority drew nothing: the empty answer is agreed. Otherwise boxes were drawn but no
        # box got a majority, and only those who drew nothing back the empty answer.
        return Consensus([], 1.0 if 2 * empty > total else float(empty / total))
    result = sorted((cluster.box() for cluster in kept), key=_box_key)
    confidence = sum(cluster.support for cluster in kept) / (total * len(kept))
    return Consensus(result, float(confidence))


def _box_key(box: dict) -> tuple:
    return (box["label"], box["x"], box["y"], box["w"], box["h"])


def _clusters_join(
    clusters: list[_Cluster], boxes: list[dict], weight: Fraction, threshold: float
) -> None:
    """Give each of one annotator's boxes its own cluster: the best-overlapping free one, else new.

    Greedy by descending IoU over all (cluster, box) pairs, so one annotator puts at most one box
    in a cluster and a box takes the cluster it overlaps most rather than the first that fits.
    """
    geometries = [box_geometry(box) for box in boxes]
    pairs = []
    for cluster_index, cluster in enumerate(clusters):
        for box_index, (box, geometry) in enumerate(zip(boxes, geometries, strict=True)):
            if box["label"] != cluster.label:
                continue
            # Identical boxes always overlap fully, even ones too small for their area to be a
            # float; and at equal IoU an identical box goes first, so unanimous answers come back.
            identical = geometry == cluster.seed
            overlap = 1.0 if identical else box_iou(geometry, cluster.seed)
            if overlap >= threshold:
                pairs.append((-overlap, not identical, cluster_index, box_index))
    pairs.sort()
    joined_clusters, joined_boxes = set(), set()
    for _, _, cluster_index, box_index in pairs:
        if cluster_index in joined_clusters or box_index in joined_boxes:
            continue
        clusters[cluster_index].members.append((weight, boxes[box_index]))
        joined_clusters.add(cluster_index)
        joined_boxes.add(box_index)
    for box_index, (box, geometry) in enumerate(zip(boxes, geometries, strict=True)):
        if box_index not in joined_boxes:
            clusters.append(_Cluster(box["label"], geometry, [(weight, box)]))


_CONSENSUS: dict[str, Callable[[AnswerFormat, list, list[Fraction], dict], Consensus]] = {
    "classification": _classification_consensus,
    "multi_label": _multi_label_consensus,
    "text": _text_consensus,
    "rating": _rating_consensus,
    "ranking": _ranking_consensus,
    "bbox": _bbox_consensus,
}
