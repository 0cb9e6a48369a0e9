# ruff: noqa: RUF001 -- prompts in other scripts use full-width and Cyrillic letters
"""The prompt classifier: held-out accuracy, images, determinism and speed of the shipped model."""

from __future__ import annotations

import importlib.util
import json
import time
from collections import defaultdict
from pathlib import Path

import pytest

from routing.classifier import TEXT_TASKS, WEIGHTS_PATH, classify, detect_language
from routing.request_view import RequestView

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "ru", "zh", "ja", "ko")
ORIGINAL_ENGLISH = frozenset(f"{t}.txt" for t in TEXT_TASKS)


def _rows(name: str) -> list[dict]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _predict(row: dict) -> str:
    return classify(row["prompt"], context=row.get("context", ())).task


@pytest.fixture(scope="module")
def heldout() -> list[tuple[dict, bool]]:
    return [(r, _predict(r) == r["task"]) for r in _rows("prompts_heldout.jsonl")]


def test_heldout_accuracy_is_at_least_95_percent_overall(heldout: list) -> None:
    correct = sum(ok for _, ok in heldout)
    assert len(heldout) >= 700
    assert correct / len(heldout) >= 0.95, f"{correct}/{len(heldout)}"


def test_every_language_is_at_least_90_percent(heldout: list) -> None:
    by_lang: dict[str, list[bool]] = defaultdict(list)
    for row, ok in heldout:
        by_lang[row["lang"]].append(ok)
    assert set(by_lang) == set(LANGUAGES)
    low = {k: f"{sum(v)}/{len(v)}" for k, v in by_lang.items() if sum(v) / len(v) < 0.90}
    assert not low, low


def test_original_english_prompts_are_no_worse_than_before(heldout: list) -> None:
    original = [ok for row, ok in heldout if row["source"] in ORIGINAL_ENGLISH]
    assert len(original) == 211
    # 94.3 % was the English-only classifier on exactly these 211 prompts.
    assert sum(original) / len(original) >= 0.943


def test_multi_turn_rows_are_classified_by_the_last_turn(heldout: list) -> None:
    conv = [ok for row, ok in heldout if row["kind"] == "conversation"]
    assert len(conv) >= 30
    assert sum(conv) / len(conv) >= 0.90


def test_labelled_set_is_big_stratified_and_disjoint() -> None:
    train, held = _rows("prompts_train.jsonl"), _rows("prompts_heldout.jsonl")
    assert len(held) >= 700
    assert len(held) / (len(train) + len(held)) >= 0.25
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in held}
    for lang in LANGUAGES:
        for task in TEXT_TASKS:
            n = sum(r["task"] == task and r["lang"] == lang for r in held)
            assert n >= 8, (lang, task, n)


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
        ("Escribe una función en Python que ordene una lista de diccionarios por fecha", "coding"),
        ("Resume la literatura científica sobre el ejercicio y la memoria", "research"),
        ("Escribe un poema sobre el silencio de la montaña", "creative"),
        ("用 Python 写一个函数，计算列表的中位数", "coding"),
        ("请综述关于城市绿地与居民健康关系的研究文献", "research"),
        ("写一首关于冬夜的诗", "creative"),
        ("JavaScriptで配列をシャッフルする関数を書いて", "coding"),
        ("都市の緑地と健康の関係について、研究文献をレビューして", "research"),
        ("冬の海についての詩を書いてください", "creative"),
    ],
)
def test_obvious_prompts_get_their_task(prompt: str, task: str) -> None:
    result = classify(prompt)
    assert result.task == task
    assert 0 < result.confidence <= 1
    assert abs(sum(result.scores[t] for t in TEXT_TASKS) - 1) < 0.01


@pytest.mark.parametrize(
    ("prompt", "task"),
    [
        ("Write a poem about a segmentation fault", "creative"),
        ("Review the research on how poetry is taught in secondary schools", "research"),
        ("Escribe un poema sobre un programador y su código", "creative"),
        ("写一首关于程序员写代码的诗", "creative"),
    ],
)
def test_distractor_words_do_not_decide(prompt: str, task: str) -> None:
    assert classify(prompt).task == task


def test_earlier_turns_decide_a_short_follow_up() -> None:
    code = ["Write a function in JavaScript that removes duplicates from an array.", "Use a Set."]
    poem = ["Write a limerick about a cat who loves lasagna.", "There once was a cat..."]
    assert classify("and in Python?", context=code).task == "coding"
    assert classify("make it shorter and funnier", context=poem).task == "creative"


def test_an_explicit_new_ask_beats_the_earlier_turns() -> None:
    code = ["How do Python decorators work?", "A decorator wraps a function..."]
    assert (
        classify("Thanks. Now write me a short poem about autumn rain.", context=code).task
        == "creative"
    )
    poem = ["Write a haiku about the sea.", "Waves fold into foam"]
    assert (
        classify("Now write a Python function that counts syllables per line.", context=poem).task
        == "coding"
    )


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("¿Cuál es la capital de Perú y por qué es tan grande?", "es"),
        ("Quelle est la capitale du Pérou et pourquoi est-elle si grande ?", "fr"),
        ("Was ist die Hauptstadt von Peru und wie groß ist sie?", "de"),
        ("Qual é a capital do Peru e por que ela é tão grande?", "pt"),
        ("Qual è la capitale del Perù e perché è così grande?", "it"),
        ("Какая столица у Перу?", "ru"),
        ("秘鲁的首都是哪里？", "zh"),
        ("ペルーの首都はどこですか？", "ja"),
        ("페루의 수도는 어디야?", "ko"),
        ("What is the capital of Peru and why is it so big?", "en"),
    ],
)
def test_language_is_detected(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_full_width_forms_read_like_ascii() -> None:
    assert classify("ｐｙｔｈｏｎでソートする関数を書いて").task == "coding"


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


def test_classification_is_fast_in_every_script() -> None:
    rows = _rows("prompts_heldout.jsonl")
    classify("warm-up")
    start = time.perf_counter()
    for row in rows:
        classify(row["prompt"], context=row.get("context", ()))
    mean_ms = (time.perf_counter() - start) * 1000 / len(rows)
    # About 0.05-0.1 ms on a quiet core (0.2-0.5 ms measured at load average 15 on 2 cores); the
    # bound leaves room for a busy shared CI machine and still catches a tenfold regression.
    assert mean_ms < 2.0, mean_ms


def _training_tool():
    spec = importlib.util.spec_from_file_location(
        "classifier_training", REPO / "tools" / "classifier_training.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_training_tool_lives_outside_the_runtime_package() -> None:
    assert not (REPO / "lambdas" / "routing" / "classifier_training.py").exists()
    assert importlib.util.find_spec("routing.classifier_training") is None


def test_shipped_weights_are_exactly_what_training_produces() -> None:
    tool = _training_tool()
    model = tool.train(tool.load_rows(tool.TRAIN_PATH))
    assert tool.serialise(model) == WEIGHTS_PATH.read_text(encoding="utf-8")


def test_openai_messages_carry_the_earlier_turns_as_context() -> None:
    view = RequestView.from_messages(
        [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "Write a function in Go that reverses a slice."},
            {"role": "assistant", "content": "func reverse(s []int) { ... }"},
            {"role": "user", "content": [{"type": "text", "text": "and in Kotlin?"}]},
        ]
    )
    assert view.prompt == "and in Kotlin?"
    assert view.context == (
        "Write a function in Go that reverses a slice.",
        "func reverse(s []int) { ... }",
    )
    assert classify(view.prompt, context=view.context).task == "coding"
    single = RequestView.from_messages([{"role": "user", "content": "hi"}])
    assert single.context == ()


@pytest.mark.parametrize(
    ("prompt", "task"),
    [
        ("Escribe una función en Go que lea un archivo JSON y devuelva un mapa", "coding"),
        (
            "Haz una revisión de la literatura sobre el efecto del ruido urbano en el sueño",
            "research",
        ),
        ("Escribe un poema corto sobre un faro abandonado", "creative"),
        ("用 JavaScript 写一个函数，把数组按日期排序", "coding"),
        ("请综述关于城市噪音对睡眠影响的研究文献", "research"),
        ("写一首关于废弃灯塔的短诗", "creative"),
        ("Goで JSON ファイルを読み込んでマップを返す関数を書いて", "coding"),
        ("都市の騒音が睡眠に与える影響について、研究文献をレビューして", "research"),
        ("廃墟になった灯台についての短い詩を書いて", "creative"),
    ],
)
def test_recommend_labels_spanish_chinese_and_japanese_prompts(prompt: str, task: str) -> None:
    from routing.engine import recommend
    from tests.routing.world import NOW, make_catalog, make_snapshot

    out = recommend(RequestView(prompt=prompt), make_catalog(), make_snapshot(), now=NOW)
    assert out.task == task
