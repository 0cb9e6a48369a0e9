"""The one interface every backend implements, plus backend-independent stop handling."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Protocol

from model_server.protocol import GenerationEvent, GenerationJob
from model_server.stops import StopScanner


class Backend(Protocol):
    name: str
    model: str
    demo: bool
    context_window: int

    def generate(self, job: GenerationJob, cancel: threading.Event) -> Iterator[GenerationEvent]:
        """Yield text pieces with running token counts; the last event carries finish_reason.

        Must stop within about one token once `cancel` is set, still ending with a final event.
        """
        ...


def plain_chat_prompt(messages: list[dict[str, Any]]) -> str:
    """Prompt for models without a chat template (Phi-2 style "User:/Assistant:")."""
    lines = []
    for m in messages:
        role = str(m.get("role", "user"))
        label = {"system": "System", "user": "User", "assistant": "Assistant"}.get(
            role, role.capitalize()
        )
        lines.append(f"{label}: {m.get('content', '')}")
    lines.append("Assistant:")
    return "\n".join(lines)


def render_chat(tokenizer: Any, job: GenerationJob) -> tuple[str, bool]:
    """The chat prompt, and whether the tokenizer's template made it (then it holds its own
    special tokens). Tools go to templates that render them, else into a system message."""
    assert job.messages is not None
    messages = job.messages
    template = getattr(tokenizer, "chat_template", None)
    native_tools = bool(job.tools and template and "tools" in template)
    if job.tool_prompt and not native_tools:
        messages = [{"role": "system", "content": job.tool_prompt}, *messages]
    if not template:
        return plain_chat_prompt(messages), False
    extra = {"tools": job.tools} if native_tools else {}
    text = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False, **extra
    )
    return text, True


def generate_with_stops(
    backend: Backend, job: GenerationJob, cancel: threading.Event
) -> Iterator[GenerationEvent]:
    """Run a backend and cut its output at the first stop sequence.

    On a stop, the backend is cancelled but still drained to its final event, so the token
    counts reported are what the model actually generated.
    """
    scanner = StopScanner(job.params.stop)
    stopped_by_sequence = False
    for event in backend.generate(job, cancel):
        text = scanner.feed(event.text) if not stopped_by_sequence else ""
        if scanner.stopped and not stopped_by_sequence:
            stopped_by_sequence = True
            cancel.set()
        if event.finish_reason is not None:
            if not stopped_by_sequence:
                text += scanner.flush()
            reason = "stop" if stopped_by_sequence else event.finish_reason
            yield GenerationEvent(text, event.prompt_tokens, event.completion_tokens, reason)
            return
        if text:
            yield GenerationEvent(text, event.prompt_tokens, event.completion_tokens)
