"""vLLM backend for GPU hosts.

UNTESTED ON CPU: this machine and CI have no GPU, so this module is only imported when vllm is
installed and torch sees CUDA. It uses vLLM's synchronous engine step loop to stream deltas and
keeps to the small, long-stable part of its API (LLMEngine, EngineArgs, SamplingParams).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

from model_server.backends.base import render_chat
from model_server.protocol import Constraint, GenerationEvent, GenerationJob


def vllm_usable() -> bool:
    try:
        import torch

        if not torch.cuda.is_available():
            return False
        import vllm  # noqa: F401
    except Exception:
        return False
    return True


def _engine_args(source: str, trust_remote_code: bool) -> Any:
    """EngineArgs with llguidance ("guidance") as the structured-output backend, under the
    option name of whichever vLLM is installed."""
    import dataclasses

    from vllm import EngineArgs

    names = {f.name for f in dataclasses.fields(EngineArgs)}
    extra: dict[str, Any] = {}
    if "structured_outputs_config" in names:
        extra["structured_outputs_config"] = {"backend": "guidance"}
    elif "guided_decoding_backend" in names:
        extra["guided_decoding_backend"] = "guidance"
    return EngineArgs(model=source, trust_remote_code=trust_remote_code, **extra)


def _structured(constraint: Constraint | None) -> dict[str, Any]:
    """SamplingParams fields that make vLLM enforce our Lark grammar itself."""
    if constraint is None:
        return {}
    try:
        from vllm.sampling_params import StructuredOutputsParams

        return {"structured_outputs": StructuredOutputsParams(grammar=constraint.grammar)}
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return {
            "guided_decoding": GuidedDecodingParams(grammar=constraint.grammar, backend="guidance")
        }


class VllmBackend:
    name = "vllm"
    demo = False
    # Grammars go to vLLM's own guided decoding; embeddings would need a pooling runner.
    capabilities = {"structured_output": True, "tools": True, "embeddings": False}

    def __init__(self, source: str, served_name: str, *, trust_remote_code: bool = False) -> None:
        from vllm import LLMEngine

        self.model = served_name
        self._engine = LLMEngine.from_engine_args(_engine_args(source, trust_remote_code))
        self.tokenizer = self._engine.get_tokenizer()
        self.context_window = int(self._engine.model_config.max_model_len)
        self._lock = threading.Lock()

    def _prompt_text(self, job: GenerationJob) -> str:
        if job.messages is None:
            return job.prompt or ""
        return render_chat(self.tokenizer, job)[0]

    def generate(self, job: GenerationJob, cancel: threading.Event) -> Iterator[GenerationEvent]:
        from vllm import SamplingParams

        p = job.params
        sampling = SamplingParams(
            max_tokens=p.max_tokens,
            temperature=p.temperature,
            top_p=p.top_p,
            seed=p.seed,
            stop=list(p.stop) or None,
            **_structured(job.constraint),
        )
        request_id = uuid.uuid4().hex
        with self._lock:
            self._engine.add_request(request_id, self._prompt_text(job), sampling)
            sent = 0
            prompt_tokens = 0
            completion_tokens = 0
            finish: Any = None
            while self._engine.has_unfinished_requests():
                if cancel.is_set():
                    self._engine.abort_request(request_id)
                    finish = "stop"
                    break
                for out in self._engine.step():
                    if out.request_id != request_id:
                        continue
                    seq = out.outputs[0]
                    prompt_tokens = len(out.prompt_token_ids or [])
                    completion_tokens = len(seq.token_ids)
                    delta, sent = seq.text[sent:], len(seq.text)
                    if delta:
                        yield GenerationEvent(delta, prompt_tokens, completion_tokens)
                    if out.finished:
                        finish = "length" if seq.finish_reason == "length" else "stop"
        yield GenerationEvent("", prompt_tokens, completion_tokens, finish or "stop")
