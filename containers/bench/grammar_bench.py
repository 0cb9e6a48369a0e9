"""Constrained vs free decoding on the tiny model (CPU), embedding latency, and the two grammar
engines side by side. Not a test: prints figures for containers/README.md.

    PYTHONPATH=containers .venv/bin/python containers/bench/grammar_bench.py
    # xgrammar is not a dependency; to include it, unpack its wheel somewhere and add that
    # folder to PYTHONPATH (the README says how the published figures were taken).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from model_server.backends.hf import TransformersBackend
from model_server.grammar import build_constraint
from model_server.protocol import EmbeddingJob, GenerationJob, GenerationParams
from model_server.tiny_model import ensure_tiny

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "member": {"type": "boolean"},
        "kind": {"enum": ["cat", "dog", "fish"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age", "member", "kind", "tags"],
    "additionalProperties": False,
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}},
    {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
]
DOC = json.dumps(
    {"name": "Ada Lovelace", "age": 36, "member": True, "kind": "cat", "tags": ["a", "bb"]}
)
FORMAT = {"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA}}
RUNS = 9


def _rate(backend: TransformersBackend, job: GenerationJob, seed: int) -> tuple[float, int]:
    seeded = GenerationJob(
        params=GenerationParams(max_tokens=job.params.max_tokens, seed=seed),
        messages=job.messages,
        constraint=job.constraint,
    )
    started = time.perf_counter()
    events = list(backend.generate(seeded, threading.Event()))
    count = events[-1].completion_tokens
    return count / (time.perf_counter() - started), count


def decoding(backend: TransformersBackend) -> None:
    messages = [{"role": "user", "content": "Describe a person."}]
    cases = {
        "free text": None,
        "json_schema": build_constraint(FORMAT, None, None, True),
        "tools required": build_constraint(None, TOOLS, "required", True),
    }
    backend.grammar()  # built once per backend, like the server does before "ready"
    jobs = {
        name: GenerationJob(
            params=GenerationParams(max_tokens=128), messages=messages, constraint=constraint
        )
        for name, constraint in cases.items()
    }
    rates: dict[str, list[float]] = {name: [] for name in jobs}
    counts: dict[str, list[int]] = {name: [] for name in jobs}
    # Interleaved, so load on a shared machine hits every case alike.
    for seed in range(RUNS):
        for name, job in jobs.items():
            rate, count = _rate(backend, job, seed)
            rates[name].append(rate)
            counts[name].append(count)
    print(f"decoding, tiny model, 1 CPU thread, median of {RUNS} interleaved runs, max_tokens=128")
    base = statistics.median(rates["free text"])
    for name in jobs:
        rate = statistics.median(rates[name])
        tokens = statistics.median(counts[name])
        print(f"  {name:15s} {rate:8.1f} tokens/s  ({tokens:.0f} tokens)  {rate / base:5.2f}x free")


def embeddings(backend: TransformersBackend) -> None:
    for size in (1, 16):
        texts = [f"sentence number {i} about the sea and the wind" for i in range(size)]
        times = []
        for _ in range(RUNS * 3):
            started = time.perf_counter()
            backend.embed(EmbeddingJob(inputs=texts))
            times.append(time.perf_counter() - started)
        print(f"  embeddings, batch of {size:2d}: p50 {statistics.median(times) * 1000:.2f} ms")


def engines(backend: TransformersBackend) -> None:
    """Per-token mask time of llguidance and xgrammar on the same schema and token path."""
    tokens = backend.tokenizer(DOC, add_special_tokens=False)["input_ids"]
    grammar = backend.grammar()
    import llguidance

    started = time.perf_counter()
    matcher = llguidance.LLMatcher(
        grammar.tokenizer, llguidance.LLMatcher.grammar_from_json_schema(SCHEMA)
    )
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    for token in tokens:
        matcher.compute_bitmask()
        assert matcher.consume_token(token), matcher.get_error()
    per_token = (time.perf_counter() - started) / len(tokens)
    print(
        f"  llguidance {llguidance.__version__}: compile {compile_s * 1000:.2f} ms, "
        f"mask+advance {per_token * 1e6:.1f} us/token ({len(tokens)} tokens)"
    )
    try:
        import torch
        import xgrammar as xgr
    except ImportError:
        print("  xgrammar: not importable here (not a dependency), skipped")
        return
    info = xgr.TokenizerInfo.from_huggingface(backend.tokenizer, vocab_size=grammar.n_vocab)
    started = time.perf_counter()
    compiled = xgr.GrammarCompiler(info).compile_json_schema(json.dumps(SCHEMA))
    compile_s = time.perf_counter() - started
    xmatcher = xgr.GrammarMatcher(compiled)
    bitmask = xgr.allocate_token_bitmask(1, info.vocab_size)
    started = time.perf_counter()
    for token in tokens:
        xmatcher.fill_next_token_bitmask(bitmask)
        assert xmatcher.accept_token(token)
    per_token = (time.perf_counter() - started) / len(tokens)
    del torch
    print(
        f"  xgrammar {getattr(xgr, '__version__', '?')}: compile {compile_s * 1000:.2f} ms, "
        f"mask+advance {per_token * 1e6:.1f} us/token"
    )


def main() -> None:
    source = ensure_tiny(Path(tempfile.gettempdir()) / "motherfluxer-bench")
    backend = TransformersBackend(str(source), "tiny-demo", demo=True, torch_threads=1)
    decoding(backend)
    embeddings(backend)
    print("grammar engines, same JSON schema, tiny tokenizer (512 tokens):")
    engines(backend)


if __name__ == "__main__":
    main()
