"""Model metadata: what each model can do, what it costs and how it is deployed for routing.

The same schema is read from `cdk.json` context (per stage) by the CDK app and by the local
stack, so one typed description drives both infrastructure and routing decisions.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Task = Literal["chat", "coding", "creative", "qa", "reasoning", "research", "vision"]
TASKS: tuple[Task, ...] = ("chat", "coding", "creative", "qa", "reasoning", "research", "vision")

Capability = Literal[
    "text",
    "vision",
    "tools",
    "coding",
    "reasoning",
    "creative",
    "research",
    "chat",
    "embeddings",
    # API features a request may need; a model without one is never sent such a request.
    "json_object",
    "json_schema",
    "logprobs",
    "multiple_choices",
]

Strategy = Literal[
    "round_robin",
    "weighted",
    "least_outstanding",
    "latency",
    "power_of_two",
    "cost",
    "availability",
]
STRATEGIES: tuple[Strategy, ...] = (
    "round_robin",
    "weighted",
    "least_outstanding",
    "latency",
    "power_of_two",
    "cost",
    "availability",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelVersionSpec(_Strict):
    """One deployable version of a model; weights split traffic between versions (rollouts)."""

    version: str = Field(min_length=1, max_length=64)
    weight: float = Field(default=100.0, ge=0)


class QueueSpec(_Strict):
    """Priority queueing for a self-hosted model (routing.queueing): when every instance is at
    `max_concurrency` (an instance's own `max_concurrency` tag wins), up to `max_depth`
    requests wait, each at most `max_wait_s` and never past its own deadline."""

    max_concurrency: int | None = Field(default=None, gt=0, le=100_000)
    max_depth: int = Field(default=32, ge=0, le=100_000)
    max_wait_s: float = Field(default=10.0, ge=0, le=900)


class ModelSpec(_Strict):
    """Routing metadata for one model id (the seed 003/004 shapes)."""

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
    display_name: str | None = None
    owned_by: str = "motherfluxer"
    description: str = ""
    capabilities: frozenset[Capability] = frozenset({"text", "chat"})
    # 0..1 per task: how well this model does that kind of work.
    specialization: dict[Task, float] = Field(default_factory=dict)
    quality: float = Field(default=0.5, ge=0, le=1)
    cost_per_1m_input: float = Field(default=0.0, ge=0)
    cost_per_1m_output: float = Field(default=0.0, ge=0)
    # Self-hosted models are priced from their instance-hour cost over measured throughput.
    instance_hour_usd: float | None = Field(default=None, ge=0)
    context_window: int = Field(default=4096, gt=0)
    max_output_tokens: int = Field(default=1024, gt=0)
    tokens_per_second: float = Field(default=50.0, gt=0)
    fallback: str | None = None
    versions: tuple[ModelVersionSpec, ...] = (ModelVersionSpec(version="v1"),)
    strategy: Strategy = "least_outstanding"
    demo: bool = False
    # Cached prompt tokens, where the provider reports them: read from and written to its cache.
    cost_per_1m_cached_input: float | None = Field(default=None, ge=0)
    cost_per_1m_cache_write: float | None = Field(default=None, ge=0)
    # The provider behind an external model (anthropic, gemini, bedrock, openai, ...).
    provider: str | None = None
    # Other names clients use for this model (`openai/gpt-x`, a vendor's dated id, ...).
    aliases: tuple[str, ...] = ()
    queue: QueueSpec = QueueSpec()

    @field_validator("specialization")
    @classmethod
    def _scores_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for task, score in value.items():
            if not 0 <= score <= 1:
                raise ValueError(f"specialization[{task}] must be between 0 and 1, got {score}")
        return value

    @model_validator(mode="after")
    def _versions_unique(self) -> ModelSpec:
        names = [v.version for v in self.versions]
        if len(names) != len(set(names)):
            raise ValueError(f"model {self.id}: duplicate version names {names}")
        if not names:
            raise ValueError(f"model {self.id}: at least one version is required")
        return self

    def specialization_for(self, task: Task) -> float:
        return self.specialization.get(task, 0.0)


class Catalog(_Strict):
    """All models known to the router, keyed by id."""

    models: tuple[ModelSpec, ...]

    @model_validator(mode="after")
    def _ids_unique_and_fallbacks_known(self) -> Catalog:
        ids = [m.id for m in self.models]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate model ids in catalog: {ids}")
        known = set(ids)
        for m in self.models:
            if m.fallback is not None and m.fallback not in known:
                raise ValueError(f"model {m.id}: fallback {m.fallback!r} is not a configured model")
        return self

    @cached_property
    def _by_id(self) -> dict[str, ModelSpec]:
        # Routing looks models up several times per request; a dict keeps that O(1).
        return {m.id: m for m in self.models}

    def get(self, model_id: str) -> ModelSpec | None:
        return self._by_id.get(model_id)

    @cached_property
    def _by_name(self) -> dict[str, ModelSpec]:
        # Other gateways accept `TINY-CHAT`, `<owned_by>/<id>` and vendor aliases for one model.
        names: dict[str, ModelSpec] = {}
        for m in self.models:
            for name in (*m.aliases, f"{m.owned_by}/{m.id}", m.id):
                names[name.lower()] = m
        return names

    def resolve(self, name: str) -> ModelSpec | None:
        """The model a client means by `name`: exact id, then case-insensitive, then alias."""
        return self._by_id.get(name) or self._by_name.get(name.strip().lower())

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.models]
