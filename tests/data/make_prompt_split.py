"""Build the labelled prompt set from the hand-written sources, split once into train/held-out.

The sources are one prompt per line in `sources/<task>.txt` (a literal backslash-n inside a line
stands for a line break, so multi-line code questions stay one line in the source). The split is
stratified by task with a fixed seed and written once; re-running refuses to overwrite the files
so the held-out set can never quietly drift into training (pass --force only when adding prompts,
and say so in the change).

    python tests/data/make_prompt_split.py
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEXT_TASKS = ("chat", "coding", "creative", "qa", "reasoning", "research")
HELDOUT_SHARE = 0.30
SEED = 20261122


def load_sources() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for task in TEXT_TASKS:
        lines = (HERE / "sources" / f"{task}.txt").read_text(encoding="utf-8").splitlines()
        prompts = [line.strip().replace("\\n", "\n") for line in lines if line.strip()]
        out[task] = list(dict.fromkeys(prompts))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="overwrite existing split files")
    args = parser.parse_args()
    train_path, heldout_path = HERE / "prompts_train.jsonl", HERE / "prompts_heldout.jsonl"
    if (train_path.exists() or heldout_path.exists()) and not args.force:
        print("split already exists; refusing to overwrite (use --force)", file=sys.stderr)
        return 1
    rng = random.Random(SEED)
    train: list[dict[str, str]] = []
    heldout: list[dict[str, str]] = []
    for task, prompts in load_sources().items():
        order = prompts[:]
        rng.shuffle(order)
        cut = round(len(order) * HELDOUT_SHARE)
        heldout += [{"prompt": p, "task": task} for p in order[:cut]]
        train += [{"prompt": p, "task": task} for p in order[cut:]]
    rng.shuffle(train)
    rng.shuffle(heldout)
    for path, rows in ((train_path, train), (heldout_path, heldout)):
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"train={len(train)} heldout={len(heldout)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
