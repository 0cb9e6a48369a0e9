"""Hugging Face transformers backend: `from_pretrained` from a directory or a hub id.

Used for production models (Phi-2 by default in the image) and for the tiny offline demo, which
is simply a locally built pretrained directory loaded through the very same code.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from model_server.backends.base import render_chat
from model_server.protocol import (
    EmbeddingJob,
    EmbeddingResult,
    GenerationError,
    GenerationEvent,
    GenerationJob,
)

log = logging.getLogger(__name__)


def _token_streamer(base: type) -> type:
    """A TextIteratorStreamer that hands text over per token, not per word.

    The stock one holds text back until a space or newline, so with text that has few spaces
    (noise, code, JSON) a stop sequence is seen, and generation cancelled, many tokens late.
    Only an incomplete UTF-8 sequence and trailing spaces (which tokenizer clean-up may still
    remove) are held back here.
    """

    class TokenStreamer(base):  # type: ignore[misc, valid-type]
        def put(self, value: Any) -> None:
            if len(value.shape) > 1:
                value = value[0]
            if self.skip_prompt and self.next_tokens_are_prompt:
                self.next_tokens_are_prompt = False
                return
            self.token_cache.extend(value.tolist())
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
            if text.endswith("\ufffd"):
                return
            if text.endswith("\n"):
                # As the stock streamer does: a line is final, and re-decoding stays short.
                self.on_finalized_text(text[self.print_len :])
                self.token_cache, self.print_len = [], 0
                return
            ready = len(text.rstrip(" "))
            if ready > self.print_len:
                self.on_finalized_text(text[self.print_len : ready])
                self.print_len = ready

    return TokenStreamer


class TransformersBackend:
    name = "transformers"

    def __init__(
        self,
        source: str,
        served_name: str,
        *,
        demo: bool = False,
        torch_threads: int = 0,
        trust_remote_code: bool = False,
        local_only: bool = False,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if torch_threads > 0:
            torch.set_num_threads(torch_threads)
        self._torch = torch
        self.model = served_name
        self.demo = demo
        if demo:
            self.name = "tiny"
        # A directory (MODEL_PATH, the tiny model) must never turn into a hub download.
        options = {"trust_remote_code": trust_remote_code, "local_files_only": local_only}
        self.tokenizer = AutoTokenizer.from_pretrained(source, **options)
        use_gpu = torch.cuda.is_available()
        dtype = torch.float16 if use_gpu else torch.float32
        self.hf_model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **options)
        self.device = "cuda" if use_gpu else "cpu"
        self.hf_model.to(self.device)
        self.hf_model.eval()
        config = self.hf_model.config
        self.context_window = int(
            getattr(config, "max_position_embeddings", None)
            or getattr(config, "n_positions", None)
            or 2048
        )
        eos = self.tokenizer.eos_token_id
        self._pad_id = (
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        )
        # A single lock: generate() on one model object is not meant to run concurrently.
        self._lock = threading.Lock()
        self._grammar: Any = None
        self.embedding_dimensions = int(
            getattr(config, "hidden_size", None) or getattr(config, "n_embd", 0)
        )
        self.capabilities = {
            "structured_output": True,
            "tools": True,
            "embeddings": True,
            "embedding_dimensions": self.embedding_dimensions,
        }

    def grammar(self) -> Any:
        """The llguidance tokenizer, built on first use (about a second on big vocabularies)."""
        if self._grammar is None:
            from model_server.backends.constrained import GrammarTokenizer

            vocab = int(self.hf_model.get_output_embeddings().weight.shape[0])
            self._grammar = GrammarTokenizer(self.tokenizer, vocab)
        return self._grammar

    def _prompt_text(self, job: GenerationJob) -> tuple[str, bool]:
        """Text to tokenize, and whether the tokenizer should add its own special tokens."""
        if job.messages is None:
            return job.prompt or "", True
        text, templated = render_chat(self.tokenizer, job)
        return text, not templated

    def embed(self, job: EmbeddingJob) -> EmbeddingResult:
        from model_server.backends.embedding import embed_with

        return embed_with(self, job)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, job: GenerationJob, cancel: threading.Event) -> Iterator[GenerationEvent]:
        from transformers import (
            LogitsProcessorList,
            StoppingCriteria,
            StoppingCriteriaList,
            TextIteratorStreamer,
        )

        torch = self._torch
        params = job.params
        text, special = self._prompt_text(job)
        enc = self.tokenizer(text, return_tensors="pt", add_special_tokens=special)
        prompt_len = int(enc["input_ids"].shape[1])
        if prompt_len == 0:
            # Models need at least one token to condition on.
            start = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else 0
            enc = {"input_ids": torch.tensor([[start]]), "attention_mask": torch.tensor([[1]])}
        if prompt_len + params.max_tokens > self.context_window:
            raise GenerationError(
                f"prompt ({prompt_len} tokens) plus max_tokens ({params.max_tokens}) exceeds the "
                f"model's context window of {self.context_window} tokens",
                kind="context_length_exceeded",
            )
        input_len = int(enc["input_ids"].shape[1])
        counted = [0]
        guide = None
        if job.constraint is not None:
            from model_server.backends.constrained import GrammarProcessor

            grammar = self.grammar()
            guide = GrammarProcessor(
                grammar, grammar.matcher(job.constraint), input_len, params.max_tokens
            )

        class _CountAndCancel(StoppingCriteria):
            # Called once per generated token: the cheapest exact count of generated tokens.
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                counted[0] = int(input_ids.shape[1]) - input_len
                done = cancel.is_set()
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool)

        streamer = _token_streamer(TextIteratorStreamer)(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        kwargs: dict[str, Any] = {
            "input_ids": enc["input_ids"].to(self.device),
            "attention_mask": enc["attention_mask"].to(self.device),
            "max_new_tokens": params.max_tokens,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([_CountAndCancel()]),
            "pad_token_id": self._pad_id,
        }
        if guide is not None:
            kwargs["logits_processor"] = LogitsProcessorList([guide])
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False)
        failure: list[BaseException] = []
        produced: list[Any] = []

        def _run() -> None:
            try:
                with torch.inference_mode():
                    if params.seed is not None:
                        torch.manual_seed(params.seed)
                    produced.append(self.hf_model.generate(**kwargs))
            except BaseException as exc:  # reported to the caller below, never swallowed
                failure.append(exc)
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=_run, name="generate", daemon=True)
            worker.start()
            for piece in streamer:
                if piece:
                    yield GenerationEvent(piece, prompt_len, counted[0])
            worker.join()
        if failure:
            log.error("generation failed: %s", type(failure[0]).__name__)
            raise GenerationError(f"generation failed: {type(failure[0]).__name__}")
        reason = "length" if counted[0] >= params.max_tokens and not cancel.is_set() else "stop"
        if guide is not None and produced:
            # A grammar not met by the end is a cut answer, whatever stopped it.
            tokens = [int(t) for t in produced[0][0, input_len:]]
            if not guide.finish(tokens) and not cancel.is_set():
                reason = "length"
        yield GenerationEvent("", prompt_len, counted[0], reason)
