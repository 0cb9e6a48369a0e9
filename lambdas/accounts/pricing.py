"""Cost of a request in USD.

Provider models are priced per million input and output tokens from configuration
(`ModelSpec.cost_per_1m_input/output`, or a `prices` row overriding them). Self-hosted models
cost what their instance costs per hour spread over the tokens it processes in that hour:
`instance_hour_usd / (measured_tokens_per_s * 3600)` per token, input and output alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, Decimal

from routing.catalog import ModelSpec
from routing.instances import Instance

NANO = Decimal("0.000000001")
_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Price:
    """A price override from the `prices` table (any field None falls back to the spec)."""

    input_per_1m: Decimal | None = None
    output_per_1m: Decimal | None = None
    instance_hour_usd: Decimal | None = None
    measured_tokens_per_s: float | None = None


def price_request(
    spec: ModelSpec,
    tokens_in: int,
    tokens_out: int,
    price: Price | None = None,
    *,
    cached_in: int = 0,
    cache_write: int = 0,
) -> Decimal:
    """USD cost, rounded up to the nano-dollar so small requests never cost zero by rounding.

    `cached_in` / `cache_write` are the part of `tokens_in` the provider read from or wrote to
    its prompt cache; they cost the catalog's cached prices where it has them.
    """
    price = price or Price()
    hour = price.instance_hour_usd
    if hour is None and spec.instance_hour_usd is not None:
        hour = Decimal(str(spec.instance_hour_usd))
    if hour is not None:
        tps = Decimal(str(price.measured_tokens_per_s or spec.tokens_per_second))
        cost = hour / (tps * 3600) * (tokens_in + tokens_out)
    else:
        cin = price.input_per_1m
        cout = price.output_per_1m
        cin = Decimal(str(spec.cost_per_1m_input)) if cin is None else cin
        cout = Decimal(str(spec.cost_per_1m_output)) if cout is None else cout
        cached_in = min(cached_in, tokens_in)
        cache_write = min(cache_write, tokens_in - cached_in)
        read_price = spec.cost_per_1m_cached_input
        write_price = spec.cost_per_1m_cache_write
        c_read = cin if read_price is None else Decimal(str(read_price))
        c_write = cin if write_price is None else Decimal(str(write_price))
        fresh = tokens_in - cached_in - cache_write
        cost = (
            cin * fresh + c_read * cached_in + c_write * cache_write + cout * tokens_out
        ) / _MILLION
    return cost.quantize(NANO, rounding=ROUND_CEILING)


def measured_tokens_per_second(instances: Iterable[Instance], model: str) -> float | None:
    """Mean generation speed the model's live instances report in their heartbeats."""
    speeds = [
        i.tokens_per_second for i in instances if i.model == model and i.tokens_per_second > 0
    ]
    return sum(speeds) / len(speeds) if speeds else None


def with_measured_speed(price: Price | None, tokens_per_s: float | None) -> Price | None:
    """`price` with the measured throughput filled in (the spec's figure is only a guess)."""
    if tokens_per_s is None:
        return price
    return replace(price or Price(), measured_tokens_per_s=tokens_per_s)


def max_cost(
    spec: ModelSpec, prompt_tokens: int, max_tokens: int, price: Price | None = None
) -> Decimal:
    """The largest cost the request can reach: the whole prompt plus every allowed output token."""
    return price_request(spec, prompt_tokens, max_tokens, price)


def to_nano(usd: Decimal) -> int:
    return int((usd / NANO).to_integral_value(rounding=ROUND_CEILING))


def from_nano(nano: int) -> Decimal:
    return (Decimal(nano) * NANO).quantize(NANO)
