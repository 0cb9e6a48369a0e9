"""The production loading path (`from_pretrained` from MODEL_PATH), exercised offline with the
tiny model saved as an ordinary pretrained directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from tests.model_server.harness import ModelServer, wait_until

pytestmark = pytest.mark.slow  # starts real model-server processes


def _pretrained_dir_without_chat_template(model_cache: Path, target: Path) -> None:
    """A copy of the tiny model as the server saved it with `save_pretrained`."""
    [saved] = [p for p in model_cache.glob("tiny-gpt2-*") if (p / "config.json").exists()]
    shutil.copytree(saved, target)
    # Without a chat template the server must fall back to a plain "User:/Assistant:" prompt.
    (target / "chat_template.jinja").unlink(missing_ok=True)
    config_path = target / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))


def test_model_path_loads_through_from_pretrained(
    tiny_server: ModelServer, model_cache: Path, tmp_path: Path
) -> None:
    # The session's tiny server has built (save_pretrained) the model into model_cache.
    model_dir = tmp_path / "my-model"
    _pretrained_dir_without_chat_template(model_cache, model_dir)
    server = ModelServer({"MODEL_PATH": str(model_dir), "MODEL_VERSION": "v3"}, tmp_path / "log")
    try:
        server.wait_ready()
        health = server.get("/health")
        body = health.json()
        assert body["backend"] == "transformers"
        assert body["demo"] is False
        assert body["model"] == "my-model"
        assert body["version"] == "v3"
        assert "x-model-demo" not in health.headers
        [entry] = server.get("/v1/models").json()["data"]
        assert entry["id"] == "my-model" and entry["demo"] is False

        messages = [{"role": "user", "content": "hello"}]
        r = server.post("/v1/chat/completions", {"messages": messages, "max_tokens": 6})
        assert r.status_code == 200, r.text
        usage = r.json()["usage"]
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        assert usage["prompt_tokens"] == len(tokenizer.encode("User: hello\nAssistant:").ids)
        assert 1 <= usage["completion_tokens"] <= 6
    finally:
        assert server.stop() == 0


def test_unloadable_model_keeps_serving_health_and_says_why(tmp_path: Path) -> None:
    server = ModelServer(
        {"MODEL_PATH": str(tmp_path / "missing-model"), "BACKEND_RESTART_BACKOFF_S": "5"},
        tmp_path / "log",
    )
    try:
        wait_until(lambda: server.ping_status() != 0, timeout=30)
        health = wait_until(
            lambda: (h := server.get("/health").json())["last_error"] and h, timeout=60
        )
        assert health["status"] in ("starting", "restarting")
        assert server.ping_status() == 503
        r = server.post("/v1/completions", {"prompt": "x", "max_tokens": 2})
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "backend_not_ready"
    finally:
        assert server.stop() == 0
