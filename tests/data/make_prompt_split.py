"""Build the labelled prompt set from the hand-written sources, split once into train/held-out.

Sources (all written for this project; nothing is downloaded):

* `sources/<task>.txt`: the original English prompts, one per line.
* `sources/multilingual/<lang>.txt`: prompts per language under `[task]` headings (en extras with
  distractors and code, es, fr, de, pt, it, ru, zh, ja, ko).
* `sources/conversations.jsonl`: multi-turn conversations labelled by their last user turn; the
  earlier turns become the row's `context`.
* `sources/train_only/<lang>.txt`: prompts written after the held-out set was first measured;
  they always go to train, so adding them never changes the held-out set.

A literal backslash-n inside a line stands for a line break. The split is stratified by
(language, task) with fixed seeds: the original English files keep the exact split they had
(one generator seeded with `SEED`, in task order), and every other source draws from its own
generator seeded with `f"{SEED}:{name}"`, so adding a language never moves another one's prompts.
Re-running refuses to overwrite the files so the held-out set can never quietly drift into
training (pass --force only when adding prompts, and say so in the change).

    python tests/data/make_prompt_split.py
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"
TEXT_TASKS = ("chat", "coding", "creative", "qa", "reasoning", "research")
LANGS = ("en", "es", "fr", "de", "pt", "it", "ru", "zh", "ja", "ko")
HELDOUT_SHARE = 0.30
MULTILINGUAL_HELDOUT_SHARE = 0.35
CONVERSATION_HELDOUT_SHARE = 0.40
SEED = 20261122

Row = dict[str, object]


def _unescape(line: str) -> str:
    return line.strip().replace("\\n", "\n")


def load_legacy() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for task in TEXT_TASKS:
        lines = (SOURCES / f"{task}.txt").read_text(encoding="utf-8").splitlines()
        out[task] = list(dict.fromkeys(_unescape(line) for line in lines if line.strip()))
    return out


def load_language(lang: str, folder: str = "multilingual") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {task: [] for task in TEXT_TASKS}
    path = SOURCES / folder / f"{lang}.txt"
    if not path.exists():
        return out
    task = None
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("[") and text.endswith("]"):
            task = text[1:-1]
            if task not in out:
                raise ValueError(f"{lang}: unknown task heading {text}")
            continue
        if task is None:
            raise ValueError(f"{lang}: prompt before any [task] heading")
        out[task].append(_unescape(text))
    return {t: list(dict.fromkeys(ps)) for t, ps in out.items()}


def load_conversations() -> list[Row]:
    rows: list[Row] = []
    for line in (SOURCES / "conversations.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            turns = obj["turns"]
            rows.append(
                {
                    "prompt": turns[-1],
                    "context": turns[:-1],
                    "task": obj["task"],
                    "lang": obj["lang"],
                    "kind": "conversation",
                    "source": "conversations.jsonl",
                }
            )
    return rows


def _row(prompt: str, task: str, lang: str, source: str) -> Row:
    return {"prompt": prompt, "task": task, "lang": lang, "kind": "prompt", "source": source}


def _cut(items: list, share: float, rng: random.Random) -> tuple[list, list]:
    order = items[:]
    rng.shuffle(order)
    cut = round(len(order) * share)
    return order[:cut], order[cut:]


def build_split() -> tuple[list[Row], list[Row]]:
    train: list[Row] = []
    heldout: list[Row] = []
    legacy_rng = random.Random(SEED)
    for task, prompts in load_legacy().items():
        held, fit = _cut(prompts, HELDOUT_SHARE, legacy_rng)
        src = f"{task}.txt"
        heldout += [_row(p, task, "en", src) for p in held]
        train += [_row(p, task, "en", src) for p in fit]
    for lang in LANGS:
        rng = random.Random(f"{SEED}:{lang}")
        for task, prompts in load_language(lang).items():
            held, fit = _cut(prompts, MULTILINGUAL_HELDOUT_SHARE, rng)
            src = f"multilingual/{lang}.txt"
            heldout += [_row(p, task, lang, src) for p in held]
            train += [_row(p, task, lang, src) for p in fit]
    for lang in LANGS:
        for task, prompts in load_language(lang, "train_only").items():
            train += [_row(p, task, lang, f"train_only/{lang}.txt") for p in prompts]
    rng = random.Random(f"{SEED}:conversations")
    conversations = load_conversations()
    for task in TEXT_TASKS:
        held, fit = _cut(
            [r for r in conversations if r["task"] == task], CONVERSATION_HELDOUT_SHARE, rng
        )
        heldout += held
        train += fit
    # Separate generators: the order of one file never depends on the size of the other.
    random.Random(f"{SEED}:train-order").shuffle(train)
    random.Random(f"{SEED}:heldout-order").shuffle(heldout)
    return train, heldout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="overwrite existing split files")
    args = parser.parse_args()
    train_path, heldout_path = HERE / "prompts_train.jsonl", HERE / "prompts_heldout.jsonl"
    if (train_path.exists() or heldout_path.exists()) and not args.force:
        print("split already exists; refusing to overwrite (use --force)", file=sys.stderr)
        return 1
    train, heldout = build_split()
    clash = {r["prompt"] for r in train} & {r["prompt"] for r in heldout}
    if clash:
        print(f"prompts on both sides of the split: {sorted(clash)[:5]}", file=sys.stderr)
        return 1
    for path, rows in ((train_path, train), (heldout_path, heldout)):
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"train={len(train)} heldout={len(heldout)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
