"""Held-out accuracy and confusion matrix of the shipped prompt classifier, as markdown.

    python bench/classifier_report.py

Reads `tests/data/prompts_heldout.jsonl` (never used in training) and the committed weights in
`lambdas/routing/classifier_weights.json`; prints the figures pasted into docs/routing.md.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lambdas"))

from routing.classifier import TEXT_TASKS, classify  # noqa: E402

HELDOUT = REPO / "tests" / "data" / "prompts_heldout.jsonl"


def main() -> None:
    rows = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines() if line]
    confusion: Counter[tuple[str, str]] = Counter()
    classify("warm-up: loads the weights once, as the first request would")
    start = time.perf_counter()
    for row in rows:
        confusion[(row["task"], classify(row["prompt"]).task)] += 1
    per_prompt_ms = (time.perf_counter() - start) * 1000 / len(rows)
    correct = sum(n for (truth, pred), n in confusion.items() if truth == pred)
    accuracy = correct / len(rows)
    print(f"Held-out prompts: {len(rows)}; accuracy: {accuracy:.4f} ({correct}/{len(rows)})")
    print(f"Mean classify time: {per_prompt_ms:.3f} ms per prompt\n")
    print("| true \\ predicted | " + " | ".join(TEXT_TASKS) + " | recall |")
    print("| --- | " + " | ".join("---:" for _ in TEXT_TASKS) + " | ---: |")
    for truth in TEXT_TASKS:
        cells = [confusion[(truth, pred)] for pred in TEXT_TASKS]
        recall = confusion[(truth, truth)] / max(1, sum(cells))
        print(f"| {truth} | " + " | ".join(str(c) for c in cells) + f" | {recall:.2f} |")
    wrong = [
        (row["task"], classify(row["prompt"]).task, row["prompt"])
        for row in rows
        if classify(row["prompt"]).task != row["task"]
    ]
    if wrong and "--errors" in sys.argv:
        print("\nMisclassified:")
        for truth, pred, prompt in wrong:
            print(f"- {truth} -> {pred}: {prompt[:100]!r}")


if __name__ == "__main__":
    main()
