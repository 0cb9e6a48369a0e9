"""Custom routing rules: ordered declarative conditions on a request, first match wins.

Rules come from configuration JSON and are data, never code: a condition names a request field,
an operator from a fixed list and a value. Regular expressions are compiled once at load time,
with caps on pattern and subject length, and nothing is ever evaluated.

    {"rules": [
      {"name": "big-prompts", "when": [{"field": "estimated_tokens", "op": "gt", "value": 6000}],
       "action": {"route_to": "long-context"}},
      {"name": "free-tier", "when": [{"field": "tier", "op": "eq", "value": "free"}],
       "action": {"strategy": "cost", "fallback": ["small-chat"]}}
    ]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from routing.catalog import Catalog, Strategy, Task

RuleField = Literal[
    "task",
    "estimated_tokens",
    "max_tokens",
    "has_images",
    "stream",
    "model",
    "metadata",
    "tier",
    "user_id",
    # The optimisation goal of an auto-routed request (`routing.optimize` or the key's default):
    # seed 004's `cost_optimized` and `premium` routes are rules on it.
    "goal",
]
Operator = Literal[
    "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "matches", "prefix"
]

MAX_PATTERN_CHARS = 200
# Subjects (metadata, user ids) come from callers; matching only their head, and refusing
# patterns with a quantified group that itself contains a quantifier (the classic catastrophic
# backtracking shape, e.g. `(a+)+`), keeps one request from stalling the router.
MAX_SUBJECT_CHARS = 256
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The request fields rules may look at."""

    task: Task = "chat"
    estimated_tokens: int = 0
    max_tokens: int | None = None
    has_images: bool = False
    stream: bool = False
    model: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    tier: str | None = None
    user_id: str | None = None
    goal: str | None = None


_MISSING = object()


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: RuleField
    op: Operator = "eq"
    value: Any = None
    key: str | None = Field(default=None, description="metadata key; required for metadata")

    _regex: re.Pattern[str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> Condition:
        if self.field == "metadata" and not self.key:
            raise ValueError("a metadata condition needs a `key`")
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"operator {self.op} needs a list value")
        if self.op in ("gt", "gte", "lt", "lte") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            raise ValueError(f"operator {self.op} needs a number")
        if self.op in ("matches", "contains", "prefix") and not isinstance(self.value, str):
            raise ValueError(f"operator {self.op} needs a string")
        if self.op == "matches":
            if len(self.value) > MAX_PATTERN_CHARS:
                raise ValueError(f"regex longer than {MAX_PATTERN_CHARS} characters")
            if _NESTED_QUANTIFIER.search(self.value):
                raise ValueError("regex has a quantified group containing a quantifier")
            try:
                self._regex = re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"invalid regex: {exc}") from None
        return self

    def _subject(self, facts: RequestFacts) -> Any:
        if self.field == "metadata":
            return facts.metadata.get(self.key or "", _MISSING)
        return getattr(facts, self.field)

    def matches(self, facts: RequestFacts) -> bool:
        subject = self._subject(facts)
        if subject is _MISSING or subject is None:
            # An absent field equals nothing, so only the negative operators can hold.
            return self.op in ("ne", "not_in") and (self.value is not None)
        op, value = self.op, self.value
        if op == "eq":
            return subject == value
        if op == "ne":
            return subject != value
        if op == "in":
            return subject in value
        if op == "not_in":
            return subject not in value
        if op in ("gt", "gte", "lt", "lte"):
            if isinstance(subject, bool) or not isinstance(subject, int | float):
                return False
            return {
                "gt": subject > value,
                "gte": subject >= value,
                "lt": subject < value,
                "lte": subject <= value,
            }[op]
        text = str(subject)[:MAX_SUBJECT_CHARS]
        if op == "contains":
            return value in text
        if op == "prefix":
            return text.startswith(value)
        return self._regex is not None and self._regex.search(text) is not None


class RuleAction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    route_to: str | None = None
    version: str | None = None
    strategy: Strategy | None = None
    fallback: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> RuleAction:
        if self.route_to is None and self.strategy is None and self.fallback is None:
            raise ValueError("a rule action needs route_to, strategy or fallback")
        if self.version is not None and self.route_to is None:
            raise ValueError("`version` is only meaningful with `route_to`")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    when: tuple[Condition, ...] = ()
    action: RuleAction

    def matches(self, facts: RequestFacts) -> bool:
        """All conditions hold (a rule without conditions always matches)."""
        return all(c.matches(facts) for c in self.when)


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _names_unique(self) -> RuleSet:
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("rule names must be unique")
        return self

    def first_match(self, facts: RequestFacts) -> Rule | None:
        for rule in self.rules:
            if rule.matches(facts):
                return rule
        return None

    def check_against(self, catalog: Catalog) -> None:
        """Fail at load time on rules that name models or versions the catalog lacks."""
        for rule in self.rules:
            targets = [rule.action.route_to, *(rule.action.fallback or ())]
            for model in filter(None, targets):
                spec = catalog.get(model)
                if spec is None:
                    raise ValueError(f"rule {rule.name}: unknown model {model!r}")
            if rule.action.version is not None:
                spec = catalog.get(rule.action.route_to or "")
                if spec is not None and rule.action.version not in {
                    v.version for v in spec.versions
                }:
                    raise ValueError(f"rule {rule.name}: unknown version {rule.action.version!r}")


def load_rules(data: Mapping[str, Any] | list[Any], catalog: Catalog | None = None) -> RuleSet:
    """Rules from parsed JSON: either {"rules": [...]} or a bare list."""
    ruleset = RuleSet.model_validate({"rules": data} if isinstance(data, list) else data)
    if catalog is not None:
        ruleset.check_against(catalog)
    return ruleset
