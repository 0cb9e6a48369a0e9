"""Embeddings from a causal LM's last hidden states: mean over the real (unmasked) tokens,
then scaled to unit length, so cosine similarity is a dot product."""

from __future__ import annotations

from typing import Any

from model_server.protocol import EmbeddingJob, EmbeddingResult, GenerationError

BATCH = 16  # bounds activation memory on long lists


def _token_lists(backend: Any, inputs: list[str] | list[list[int]]) -> list[list[int]]:
    if inputs and isinstance(inputs[0], str):
        encoded = backend.tokenizer(list(inputs), add_special_tokens=False)["input_ids"]
        return [list(ids) for ids in encoded]
    vocab = int(backend.hf_model.get_input_embeddings().weight.shape[0])
    for ids in inputs:
        if any(not 0 <= int(t) < vocab for t in ids):  # type: ignore[union-attr]
            raise GenerationError(
                f"input: token ids must be between 0 and {vocab - 1}",
                kind="invalid_input",
                param="input",
            )
    return [[int(t) for t in ids] for ids in inputs]  # type: ignore[union-attr]


def embed_with(backend: Any, job: EmbeddingJob) -> EmbeddingResult:
    torch = backend._torch
    lists = _token_lists(backend, job.inputs)
    for i, ids in enumerate(lists):
        if not ids:
            raise GenerationError(f"input[{i}] has no tokens", kind="invalid_input", param="input")
        if len(ids) > backend.context_window:
            raise GenerationError(
                f"input[{i}] has {len(ids)} tokens; this model embeds at most "
                f"{backend.context_window}",
                kind="context_length_exceeded",
            )
    # The transformer body alone: the LM head's logits are not needed.
    body = getattr(backend.hf_model, "base_model", backend.hf_model)
    vectors: list[list[float]] = []
    with backend._lock, torch.inference_mode():
        for start in range(0, len(lists), BATCH):
            batch = lists[start : start + BATCH]
            width = max(len(ids) for ids in batch)
            ids = torch.full((len(batch), width), backend._pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, tokens in enumerate(batch):
                ids[row, : len(tokens)] = torch.tensor(tokens)
                mask[row, : len(tokens)] = 1
            out = body(input_ids=ids.to(backend.device), attention_mask=mask.to(backend.device))
            hidden = out.last_hidden_state.float()
            weights = mask.to(hidden.device).unsqueeze(-1).float()
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
            vectors.extend(pooled.cpu().tolist())
    return EmbeddingResult(vectors=vectors, prompt_tokens=sum(len(ids) for ids in lists))
