"""Pure pieces of the model server: stop sequences, prompts, settings, metrics text."""

from __future__ import annotations

import threading

import pytest

from model_server.backends.base import generate_with_stops, plain_chat_prompt
from model_server.backends.echo import EchoBackend
from model_server.config import Settings
from model_server.metrics import Metrics
from model_server.protocol import GenerationJob, GenerationParams
from model_server.stops import split_on_stops


@pytest.mark.parametrize(
    ("pieces", "stops", "expected"),
    [
        (["hello wor", "ld END more"], ["END"], "hello world "),
        (["ab", "c", "d", "E", "ND"], ["END"], "abcd"),
        (["no stop here"], ["END"], "no stop here"),
        (["x", "y"], [], "xy"),
        (["aaa##", "#b"], ["###", "zz"], "aaa"),
        (["EN", "D"], ["END"], ""),
        (["partial E"], ["END"], "partial E"),
    ],
)
def test_stop_sequences_split_across_pieces(
    pieces: list[str], stops: list[str], expected: str
) -> None:
    assert "".join(split_on_stops(pieces, stops)) == expected


def test_stop_cancels_the_backend_and_reports_real_counts() -> None:
    job = GenerationJob(params=GenerationParams(max_tokens=50, stop=("c",)), prompt="a b c d e")
    cancel = threading.Event()
    events = list(generate_with_stops(EchoBackend("echo"), job, cancel))
    assert "".join(e.text for e in events) == "a b "
    assert events[-1].finish_reason == "stop"
    assert events[-1].completion_tokens == 3  # the word holding the stop was generated
    assert cancel.is_set()


def test_plain_chat_prompt_for_models_without_a_template() -> None:
    prompt = plain_chat_prompt(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Bye"},
        ]
    )
    assert prompt == "System: Be brief.\nUser: Hi\nAssistant: Hello\nUser: Bye\nAssistant:"


def test_settings_defaults_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODEL_ID", "MODEL_PATH", "MODEL_BACKEND", "SERVED_MODEL_NAME", "PORT", "HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOTHERFLUXER_REGISTRATION_TOKEN", "tok-secret")
    monkeypatch.setenv("MOTHERFLUXER_ENROLLMENT_KEY", "key-secret")
    s = Settings.from_env()
    assert (s.host, s.port, s.served_model_name, s.model_version) == (
        "0.0.0.0",
        8080,
        "tiny-demo",
        "v1",
    )
    assert s.public_url == "http://127.0.0.1:8080"
    assert "secret" not in repr(s)
    assert "registration_token" not in s.for_backend()
    assert "enrollment_key" not in s.for_backend()
    monkeypatch.setenv("MODEL_ID", "microsoft/phi-2")
    assert Settings.from_env().served_model_name == "microsoft/phi-2"
    monkeypatch.setenv("MODEL_PATH", "/opt/ml/model/")
    monkeypatch.setenv("SERVED_MODEL_NAME", "phi-2")
    assert Settings.from_env().served_model_name == "phi-2"


def test_metrics_exposition_is_prometheus_text() -> None:
    m = Metrics()
    m.count_request("/v1/chat/completions", 200)
    m.count_request("/v1/chat/completions", 503)
    m.observe_generation("/v1/chat/completions", 0.3, 0.05, 10, 26)
    text = m.render(lambda: {"model_server_in_flight": ("gauge", 2)}, {"model": 'a"b'})
    lines = text.splitlines()
    assert 'model_server_info{model="a\\"b"} 1' in lines
    assert 'model_server_requests_total{endpoint="/v1/chat/completions",status="503"} 1' in lines
    assert 'model_server_errors_total{endpoint="/v1/chat/completions",kind="server"} 1' in lines
    assert "model_server_generated_tokens_total 26" in lines
    assert (
        'model_server_request_duration_seconds_bucket{endpoint="/v1/chat/completions",le="0.25"} 0'
        in lines
    )
    assert (
        'model_server_request_duration_seconds_bucket{endpoint="/v1/chat/completions",le="0.5"} 1'
        in lines
    )
    assert "model_server_in_flight 2" in lines
    assert m.tokens_per_second == pytest.approx(25 / 0.25)
