"""Grammar-constrained decoding for the transformers backend, with llguidance.

Every step the grammar's token mask is applied to the logits, so only tokens that keep the
output inside the grammar can be sampled. Near the end of the token budget the decoder
"winds down": it stops sampling and picks, among the allowed tokens, the one that closes the
most structure (`}`, `]`, `"`, or end-of-text once the grammar accepts). When to start is
measured, not guessed: a copy of the matcher is run down that closing path to count the
tokens it needs, so even a model of pure noise, whose strings would otherwise never end,
finishes inside max_tokens with output that parses. A real model usually ends long before.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from model_server.protocol import Constraint, GenerationError

# `"` closes a string but also opens one, so it ranks below the brackets.
# A `,` between object members moves on to the required keys still missing.
_CLOSING_WEIGHT = {ord("}"): 100.0, ord("]"): 100.0, ord('"'): 60.0, ord(","): 5.0}
# How often the closing cost is re-measured once the end of the budget is in sight.
_RECHECK_EVERY = 8
# Closing candidates compared by look-ahead at each wind-down step.
_CANDIDATES = 6
# Weight of log(choices left after a token) against its closing weight.
_OPENNESS_PENALTY = 12.0


class GrammarTokenizer:
    """The llguidance view of one Hugging Face tokenizer, built once (about 1 s on big vocabs)."""

    def __init__(self, hf_tokenizer: Any, model_vocab: int) -> None:
        import llguidance
        import llguidance.hf

        self._llg = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(hf_tokenizer)
        self.eos = int(hf_tokenizer.eos_token_id)
        self.n_vocab = int(self.tokenizer.vocab_size)
        self.model_vocab = max(model_vocab, self.n_vocab)
        # Per token: how much structure it closes, minus its length, so the wind-down prefers
        # short closing tokens.
        score = np.zeros(self.n_vocab, dtype=np.float32)
        for token in range(self.n_vocab):
            raw = self.tokenizer.decode_bytes([token])
            score[token] = sum(_CLOSING_WEIGHT.get(b, 0.0) for b in raw) - len(raw)
        self.closing_score = score
        self.limits = llguidance.LLParserLimits(verbose_errors=False)

    def matcher(self, constraint: Constraint) -> Any:
        llg = self._llg
        grammar = llg.LLMatcher.grammar_from_lark(constraint.grammar)
        matcher = llg.LLMatcher(self.tokenizer, grammar, log_level=0, limits=self.limits)
        if matcher.is_error():
            raise GenerationError(
                f"{constraint.param}: the grammar could not be built: {matcher.get_error()}",
                kind="invalid_grammar",
                param=constraint.param,
            )
        return matcher

    def allowed(self, matcher: Any) -> np.ndarray:
        bits = np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)
        return np.unpackbits(bits, bitorder="little")[: self.n_vocab].astype(bool)


class GrammarProcessor:
    """A transformers LogitsProcessor (duck-typed) that enforces one matcher for one request."""

    def __init__(
        self, grammar: GrammarTokenizer, matcher: Any, prompt_len: int, max_new_tokens: int
    ) -> None:
        import torch

        self._torch = torch
        self.grammar = grammar
        self.matcher = matcher
        self.prompt_len = prompt_len
        self.max_new_tokens = max_new_tokens
        self.consumed = 0
        self.winding = False
        self.closing_cost: int | None = None
        self.unit_cost = 0
        self.failure: str | None = None

    def _consume(self, token: int) -> None:
        if not self.matcher.consume_token(token):
            self.failure = self.matcher.get_error() or "token rejected by the grammar"

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = self._torch
        generated = int(input_ids.shape[1]) - self.prompt_len
        if generated > self.consumed:
            self._consume(int(input_ids[0, -1]))
            self.consumed = generated
        g = self.grammar
        allowed = g.allowed(self.matcher)
        if self.matcher.is_error() or not allowed.any():
            self.failure = self.failure or self.matcher.get_error() or "grammar has no way on"
            allowed = np.zeros(g.n_vocab, dtype=bool)
            allowed[g.eos] = True
        elif self._should_wind_down(generated):
            allowed = self._only(self._closing_token(self.matcher, allowed))
        keep = torch.zeros(scores.shape[-1], dtype=torch.bool)
        width = min(g.n_vocab, scores.shape[-1])
        keep[:width] = torch.from_numpy(allowed[:width])
        keep = keep.to(scores.device)
        return scores.masked_fill(~keep, float("-inf"))

    def _should_wind_down(self, generated: int) -> bool:
        if self.winding:
            return True
        remaining = self.max_new_tokens - generated
        cost = self.closing_cost
        if cost is None:
            # The cost from the very start is that of a minimal whole answer: between two
            # measurements the model can open at most one more such unit (another tool call,
            # another array item), so that is the margin kept.
            cost = self.closing_cost = self.unit_cost = self._measure_closing(remaining)
        margin = self.unit_cost + _RECHECK_EVERY + 1
        if remaining <= 2 * (cost + margin) and generated % _RECHECK_EVERY == 0:
            cost = self.closing_cost = self._measure_closing(remaining)
        self.winding = remaining <= cost + margin
        return self.winding

    def _measure_closing(self, limit: int) -> int:
        """Tokens the closing path needs from here, end-of-text included (at most `limit`)."""
        probe = self.matcher.deep_copy()
        for steps in range(limit):
            allowed = self.grammar.allowed(probe)
            if not allowed.any():
                return limit
            token = self._closing_token(probe, allowed)
            if token == self.grammar.eos:
                return steps + 1
            if not probe.consume_token(token):
                return limit
        return limit

    def _closing_token(self, matcher: Any, allowed: np.ndarray) -> int:
        """Among the best few closing-looking tokens, the one that closes most while leaving
        the grammar the fewest choices after it: a `"` that ends a string leaves few, one that
        opens a string, or a `]` written inside a string, leaves almost all."""
        g = self.grammar
        if allowed[g.eos] and matcher.is_accepting():
            return g.eos
        scores = np.where(allowed, g.closing_score, -np.inf)
        count = int(allowed.sum())
        if count == 1:
            return int(np.argmax(scores))
        top = np.argsort(-scores)[: min(_CANDIDATES, count)]
        best, best_value = int(top[0]), -np.inf
        for token in top:
            probe = matcher.deep_copy()
            if not probe.consume_token(int(token)):
                continue
            left = max(1, int(g.allowed(probe).sum()))
            value = float(scores[token]) - _OPENNESS_PENALTY * float(np.log(left))
            if value > best_value:
                best, best_value = int(token), value
        return best

    def _only(self, token: int) -> np.ndarray:
        only = np.zeros(self.grammar.n_vocab, dtype=bool)
        only[token] = True
        return only

    def finish(self, generated: list[int]) -> bool:
        """Feed the tokens generate() sampled after the last call; True if the grammar is met."""
        for token in generated[self.consumed :]:
            if token == self.grammar.eos:
                break
            self._consume(token)
        if self.failure:
            raise GenerationError(f"constrained decoding failed: {self.failure}")
        return bool(self.matcher.is_accepting())
