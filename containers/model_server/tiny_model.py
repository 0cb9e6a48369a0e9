"""A tiny GPT-2-style model and tokenizer built locally from a fixed seed.

It exists so the server, its tests and the local stack run offline without downloading weights.
Its weights are random: everything it writes is noise, and the server labels it as a demo.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"

# The chat template keeps the tiny model on the same code path as real chat models.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# Built-in training text for the tokenizer: varied enough that byte-level BPE learns common
# English merges, so token counts look like a real model's rather than one token per byte.
_CORPUS = """
MotherFluxer routes every request to a model and an instance that can answer it.
The quick brown fox jumps over the lazy dog. A small model writes noise, not answers.
Hello, how are you today? I am fine, thank you. What is the capital of France? Paris.
Write a short poem about the sea and the wind, the sun and the rain, the night and the day.
def add(a, b):\n    return a + b\n\nfor i in range(10):\n    print(i)\n
Explain the theory of relativity in simple words. Energy equals mass times the speed of light.
The user asks a question and the assistant gives an answer. Routing, streaming, tokens, models.
One two three four five six seven eight nine ten. Monday Tuesday Wednesday Thursday Friday.
"""

TINY_CONFIG: dict[str, Any] = {
    "vocab_size": 512,
    "n_positions": 1024,
    # Weights are drawn for this many positions, then extended: the tiny model behaves exactly
    # as it did when its context was 512, and tool prompts still fit.
    "base_positions": 512,
    "n_embd": 64,
    "n_layer": 2,
    "n_head": 2,
    "seed": 1234,
}


def _fingerprint() -> str:
    blob = json.dumps({"config": TINY_CONFIG, "corpus": _CORPUS, "template": CHAT_TEMPLATE})
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(tempfile.gettempdir(), "motherfluxer")
    return Path(base) / "model-cache"


def build_tokenizer() -> Any:
    """Byte-level BPE trained on the built-in text, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_CONFIG["vocab_size"],
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, bos_token=EOS, unk_token=EOS, pad_token=EOS
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_model(vocab_size: int) -> Any:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=TINY_CONFIG["base_positions"],
        n_embd=TINY_CONFIG["n_embd"],
        n_layer=TINY_CONFIG["n_layer"],
        n_head=TINY_CONFIG["n_head"],
        bos_token_id=0,
        eos_token_id=0,
    )
    # A private generator keeps the weights identical across runs without touching global RNG.
    torch.manual_seed(TINY_CONFIG["seed"])
    model = GPT2LMHeadModel(config)
    _extend_positions(model, TINY_CONFIG["n_positions"])
    model.eval()
    return model


def _extend_positions(model: Any, positions: int) -> None:
    import torch

    old = model.transformer.wpe.weight.data
    extra = torch.empty(positions - old.shape[0], old.shape[1])
    generator = torch.Generator().manual_seed(TINY_CONFIG["seed"] + 1)
    extra.normal_(0.0, model.config.initializer_range, generator=generator)
    wpe = torch.nn.Embedding(positions, old.shape[1])
    wpe.weight.data = torch.cat([old, extra])
    model.transformer.wpe = wpe
    model.config.n_positions = positions


def build_tiny(target: Path) -> Path:
    """Build the tiny model and tokenizer and save them as a normal pretrained directory."""
    tokenizer = build_tokenizer()
    model = build_model(len(tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    target.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(target))
    model.save_pretrained(str(target))
    return target


def ensure_tiny(cache_dir: Path | None = None) -> Path:
    """Return a directory holding the tiny model, building it once per fingerprint.

    The build goes to a temporary sibling that is renamed into place, so two processes starting
    together never read a half-written directory.
    """
    root = cache_dir or default_cache_dir()
    final = root / f"tiny-gpt2-{_fingerprint()}"
    if (final / "config.json").exists() and (final / "tokenizer.json").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tiny-build-", dir=root))
    build_tiny(staging)
    try:
        os.replace(staging, final)
    except OSError:
        # Another process won the race; its copy is identical.
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    log.info("built tiny demo model in %s", final)
    return final
