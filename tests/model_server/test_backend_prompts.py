"""How tools reach the prompt, and what the vLLM backend hands vLLM for a grammar."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from model_server.backends import vllm_backend
from model_server.backends.base import render_chat
from model_server.protocol import Constraint, GenerationJob, GenerationParams

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


class Template:
    def __init__(self, template: str | None) -> None:
        self.chat_template = template
        self.calls: list[dict[str, Any]] = []

    def apply_chat_template(self, messages: list[dict[str, Any]], **kw: Any) -> str:
        self.calls.append({"messages": messages, **kw})
        return "|".join(f"{m['role']}:{m['content']}" for m in messages)


def job(**kw: Any) -> GenerationJob:
    return GenerationJob(
        params=GenerationParams(), messages=[{"role": "user", "content": "hi"}], **kw
    )


def test_templates_that_know_tools_get_them_natively() -> None:
    tok = Template("{% if tools %}...{% endif %}")
    text, templated = render_chat(tok, job(tools=TOOLS, tool_prompt="CALL f"))
    assert templated and tok.calls[0]["tools"] == TOOLS
    assert "CALL f" not in text


def test_other_templates_get_tools_as_a_system_message() -> None:
    tok = Template("{{ messages }}")
    text, templated = render_chat(tok, job(tools=TOOLS, tool_prompt="CALL f"))
    assert templated and "tools" not in tok.calls[0]
    assert text.startswith("system:CALL f|user:hi")
    plain, templated = render_chat(Template(None), job(tools=TOOLS, tool_prompt="CALL f"))
    assert not templated and plain.startswith("System: CALL f\nUser: hi")


@dataclass
class FakeEngineArgs:
    model: str
    trust_remote_code: bool = False
    structured_outputs_config: Any = None
    extra: dict = field(default_factory=dict)


def test_vllm_gets_the_grammar_for_its_guidance_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    vllm = types.ModuleType("vllm")
    vllm.EngineArgs = FakeEngineArgs  # type: ignore[attr-defined]
    sampling = types.ModuleType("vllm.sampling_params")

    class StructuredOutputsParams:
        def __init__(self, grammar: str) -> None:
            self.grammar = grammar

    sampling.StructuredOutputsParams = StructuredOutputsParams  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    args = vllm_backend._engine_args("some/model", False)
    assert args.structured_outputs_config == {"backend": "guidance"}
    extra = vllm_backend._structured(Constraint(grammar="start: /x/", param="tools"))
    assert extra["structured_outputs"].grammar == "start: /x/"
    assert vllm_backend._structured(None) == {}


def test_a_tokenizer_the_grammar_cannot_take_costs_only_structured_output() -> None:
    from model_server.worker import _prepare_grammar

    class NoGrammar:
        capabilities = {"structured_output": True, "tools": True, "embeddings": True}

        def grammar(self) -> None:
            raise ValueError("no eos token")

    backend = NoGrammar()
    _prepare_grammar(backend)
    assert backend.capabilities == {
        "structured_output": False,
        "tools": False,
        "embeddings": True,
    }
