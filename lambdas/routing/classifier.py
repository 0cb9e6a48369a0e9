"""Prompt task classifier: which kind of work a request is, from its text and attachments.

A multinomial logistic regression over features that work in any script (see
`classifier_features`): words, word bigrams and prefixes where words are spaced, character
n-grams for Chinese, Japanese and Korean, cue lexicons in ten languages, script and language
signals, and shape features (code fences, identifiers, operators, digits, question form). The
weights are trained offline by `tools/classifier_training.py` from the labelled prompts in
`tests/data/` and ship beside this module as `classifier_weights.json`, so nothing is downloaded
at run time. Images attached to the request decide `vision` outright: the text model never
predicts it.

A conversation is classified by its last user turn, with the earlier turns as context: they can
tip a short follow-up ("and in Rust?") but not outvote an explicit new ask.
"""

from __future__ import annotations

import base64
import json
import math
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from routing.catalog import Task
from routing.classifier_features import detect_language, extract_features

WEIGHTS_PATH = Path(__file__).with_name("classifier_weights.json")
TEXT_TASKS: tuple[Task, ...] = ("chat", "coding", "creative", "qa", "reasoning", "research")

__all__ = [
    "TEXT_TASKS",
    "WEIGHTS_PATH",
    "Classification",
    "classify",
    "detect_language",
    "extract_features",
    "text_scores",
]


@dataclass(frozen=True, slots=True)
class Classification:
    """The classifier's answer: the task, its probability, and every label's probability.

    `text_task` is what the text alone suggests; it equals `task` unless images made it `vision`.
    """

    task: Task
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    text_task: Task = "chat"


@dataclass(frozen=True, slots=True)
class _Model:
    labels: tuple[str, ...]
    bias: tuple[float, ...]
    scale: float
    index: dict[str, int]  # feature -> offset of its row in `weights`
    weights: array  # int16 thousandths, len(labels) per feature
    # Rows unpacked to tuples on first use: loading stays a few objects, and the features that
    # real traffic keeps using cost one dict lookup, like a plain table. At most one per feature.
    rows: dict[str, tuple[int, ...]] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _load(path: str = str(WEIGHTS_PATH)) -> _Model:
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    labels = tuple(data["labels"])
    weights = array("h", base64.b64decode(data["weights_int16_b64"]))
    if sys.byteorder == "big":
        weights.byteswap()
    width = len(labels)
    if len(weights) != width * len(data["features"]):
        raise ValueError(f"{path}: weight table does not match its feature list")
    index = {f: i * width for i, f in enumerate(data["features"])}
    return _Model(labels, tuple(data["bias"]), float(data["scale"]), index, weights)


def _softmax(logits: Sequence[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


def text_scores(text: str, context: Sequence[str] = ()) -> dict[str, float]:
    """Probability per text task (chat, coding, creative, qa, reasoning, research)."""
    model = _load()
    index, weights, width, cache = model.index, model.weights, len(model.labels), model.rows
    rows = []
    for f in set(extract_features(text, context)):
        row = cache.get(f)
        if row is None:
            at = index.get(f)
            if at is None:
                continue
            row = cache[f] = tuple(weights[at : at + width])
        rows.append(row)
    # Column sums in C (zip/sum) rather than a Python loop per feature and label; integer
    # thousandths add exactly.
    sums = [sum(column) for column in zip(*rows, strict=True)] if rows else [0] * width
    logits = [b + s / model.scale for b, s in zip(model.bias, sums, strict=True)]
    probs = _softmax(logits)
    return {label: round(p, 4) for label, p in zip(model.labels, probs, strict=True)}


def classify(text: str, has_images: bool = False, context: Sequence[str] = ()) -> Classification:
    """Classify a prompt; any attached image makes the task `vision` with confidence 1.

    `context` is the conversation's earlier turns (oldest first), if any.
    """
    if not text.strip():
        scores = {t: 0.0 for t in TEXT_TASKS}
        if has_images:
            return Classification("vision", 1.0, {**scores, "vision": 1.0}, "chat")
        return Classification("chat", 0.0, {**scores, "chat": 0.0}, "chat")
    scores = text_scores(text, context)
    best = max(scores, key=lambda k: (scores[k], k))
    if has_images:
        return Classification("vision", 1.0, {**scores, "vision": 1.0}, best)  # type: ignore[arg-type]
    return Classification(best, scores[best], {**scores, "vision": 0.0}, best)  # type: ignore[arg-type]
