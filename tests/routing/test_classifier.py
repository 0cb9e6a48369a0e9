"""The prompt classifier: held-out accuracy, images, determinism and speed of the shipped model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routing.classifier import TEXT_TASKS, WEIGHTS_PATH, classify
from routing.request_view import RequestView

DATA = Path(__file__).resolve().parents[1] / "data"


def _rows(name: str) -> list[dict[str, str]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_heldout_accuracy_is_at_least_90_percent() -> None:
    rows = _rows("prompts_heldout.jsonl")
    correct = sum(classify(r["prompt"]).task == r["task"] for r in rows)
    assert correct / len(rows) >= 0.90, f"{correct}/{len(rows)}"


def test_labelled_set_is_big_stratified_and_disjoint() -> None:
    train, heldout = _rows("prompts_train.jsonl"), _rows("prompts_heldout.jsonl")
    assert len(train) + len(heldout) >= 700
    assert len(heldout) / (len(train) + len(heldout)) >= 0.25
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in heldout}
    for task in TEXT_TASKS:
        assert sum(r["task"] == task for r in heldout) >= 25


def test_weights_file_ships_small() -> None:
    assert WEIGHTS_PATH.stat().st_size < 2_000_000


@pytest.mark.parametrize(
    ("prompt", "task"),
    [
        ("hey, how are you doing today?", "chat"),
        ("Write a Go function that parses a JSON config file", "coding"),
        ("Write a limerick about a sleepy owl", "creative"),
        ("What is the capital of Peru?", "qa"),
        ("If 4 pencils cost 60 cents, how much do 10 pencils cost?", "reasoning"),
        ("Summarise the research literature on sleep and memory consolidation", "research"),
    ],
)
def test_obvious_prompts_get_their_task(prompt: str, task: str) -> None:
    result = classify(prompt)
    assert result.task == task
    assert 0 < result.confidence <= 1
    assert abs(sum(result.scores[t] for t in TEXT_TASKS) - 1) < 0.01


def test_attached_image_makes_it_vision_whatever_the_text() -> None:
    result = classify("Write a Python function to sort a list", has_images=True)
    assert result.task == "vision"
    assert result.confidence == 1.0
    assert result.text_task == "coding"


def test_image_parts_in_openai_messages_are_detected() -> None:
    view = RequestView.from_messages(
        [
            {"role": "system", "content": "You are helpful."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
        ]
    )
    assert view.has_images
    assert view.prompt == "What is in this picture?"
    assert classify(view.prompt, view.has_images).task == "vision"


def test_same_text_same_answer_and_empty_text_is_handled() -> None:
    assert classify("Explain quicksort") == classify("Explain quicksort")
    assert classify("   ").task == "chat"
    assert classify("", has_images=True).task == "vision"


def test_very_long_prompt_is_classified() -> None:
    text = "def f(x):\n    return x + 1\n" * 2000 + "\nWhy does this Python code fail?"
    assert classify(text).task == "coding"


def test_shipped_weights_are_exactly_what_training_produces() -> None:
    from routing.classifier_training import TRAIN_PATH, load_rows, train

    model = train(load_rows(TRAIN_PATH))
    rebuilt = json.dumps(model, separators=(",", ":"), sort_keys=True)
    assert rebuilt == WEIGHTS_PATH.read_text(encoding="utf-8")
