"""A pure-Python backend that echoes the prompt back, word by word.

It starts in well under a second and needs no torch, so router tests and benchmarks can run
many instances whose latency is the server's own overhead, not a model's. Like the tiny model,
it is a demo: its answers carry no meaning.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from model_server.protocol import GenerationEvent, GenerationJob


class EchoBackend:
    name = "echo"
    demo = True
    context_window = 8192

    def __init__(self, served_name: str) -> None:
        self.model = served_name

    @staticmethod
    def _source(job: GenerationJob) -> str:
        if job.messages is None:
            return job.prompt or ""
        users = [str(m.get("content", "")) for m in job.messages if m.get("role") == "user"]
        return users[-1] if users else ""

    def generate(self, job: GenerationJob, cancel: threading.Event) -> Iterator[GenerationEvent]:
        # A "token" here is a whitespace-separated word: honest for an echo, and countable.
        if job.messages is None:
            prompt_tokens = len((job.prompt or "").split())
        else:
            prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in job.messages)
        words = self._source(job).split() or ["echo"]
        produced = 0
        while produced < job.params.max_tokens and not cancel.is_set():
            word = words[produced % len(words)]
            produced += 1
            yield GenerationEvent(word + " ", prompt_tokens, produced)
        reason = "length" if produced >= job.params.max_tokens else "stop"
        yield GenerationEvent("", prompt_tokens, produced, reason)
