"""Held-out accuracy of the shipped prompt classifier per language and per task, as markdown.

    python bench/classifier_report.py [--errors]

Reads `tests/data/prompts_heldout.jsonl` (never used in training; conversation rows are classified
by their last turn with the earlier turns as context) and the committed weights in
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
# The English figure before the multilingual classifier, on the same 211 original prompts.
ENGLISH_BASELINE = 0.943
ORIGINAL_SOURCES = frozenset(f"{t}.txt" for t in TEXT_TASKS)


def load_heldout() -> list[dict]:
    lines = HELDOUT.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def predictions(rows: list[dict]) -> tuple[list[str], float]:
    """Predicted task per row, and the mean time per classification in ms."""
    classify("warm-up: loads the weights once, as the first request would")
    start = time.perf_counter()
    out = [classify(r["prompt"], context=r.get("context", ())).task for r in rows]
    return out, (time.perf_counter() - start) * 1000 / len(rows)


def _share(hits: int, total: int) -> str:
    return f"{hits / total:.4f} ({hits}/{total})" if total else "-"


def main() -> None:
    rows = load_heldout()
    predicted, per_prompt_ms = predictions(rows)
    ok = [p == r["task"] for p, r in zip(predicted, rows, strict=True)]
    print(f"Held-out prompts: {len(rows)}; accuracy: {_share(sum(ok), len(rows))}")
    print(f"Mean classify time: {per_prompt_ms:.3f} ms per prompt\n")
    original = [o for o, r in zip(ok, rows, strict=True) if r["source"] in ORIGINAL_SOURCES]
    print(
        f"Original English prompts: {_share(sum(original), len(original))}"
        f" (before this classifier: {ENGLISH_BASELINE:.3f})\n"
    )
    print("| language | accuracy |")
    print("| --- | ---: |")
    for lang in sorted({r["lang"] for r in rows}, key=lambda x: (x != "en", x)):
        hits = [o for o, r in zip(ok, rows, strict=True) if r["lang"] == lang]
        print(f"| {lang} | {_share(sum(hits), len(hits))} |")
    conv = [o for o, r in zip(ok, rows, strict=True) if r.get("kind") == "conversation"]
    print(f"| multi-turn (all languages) | {_share(sum(conv), len(conv))} |\n")
    confusion: Counter[tuple[str, str]] = Counter(
        (r["task"], p) for p, r in zip(predicted, rows, strict=True)
    )
    print("| task | accuracy (recall) |")
    print("| --- | ---: |")
    for task in TEXT_TASKS:
        hits = [o for o, r in zip(ok, rows, strict=True) if r["task"] == task]
        print(f"| {task} | {_share(sum(hits), len(hits))} |")
    print()
    print("| true \\ predicted | " + " | ".join(TEXT_TASKS) + " | recall |")
    print("| --- | " + " | ".join("---:" for _ in TEXT_TASKS) + " | ---: |")
    for truth in TEXT_TASKS:
        cells = [confusion[(truth, pred)] for pred in TEXT_TASKS]
        recall = confusion[(truth, truth)] / max(1, sum(cells))
        print(f"| {truth} | " + " | ".join(str(c) for c in cells) + f" | {recall:.2f} |")
    if "--errors" in sys.argv:
        print("\nMisclassified:")
        for p, r in zip(predicted, rows, strict=True):
            if p != r["task"]:
                print(f"- [{r['lang']}] {r['task']} -> {p}: {r['prompt'][:90]!r}")


if __name__ == "__main__":
    main()
