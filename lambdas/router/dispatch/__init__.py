"""Dispatch: one admitted request in, one answer (buffered or streamed) out.

`failover` carries out the routing library's retry decisions, `admitted` holds the instances the
breaker let one request use, `relay` streams an answer once it started, `openai_wire` holds the
OpenAI wire details, `ports` what dispatch needs from the router, `types` the data in and out.
"""

from router.dispatch.failover import Dispatcher
from router.dispatch.ports import InstancePicker, PassiveHealth, RetryGovernor
from router.dispatch.types import (
    Answer,
    BufferedAnswer,
    CompletionHook,
    DispatchOutcome,
    DispatchRequest,
    RouteInfo,
    StreamedAnswer,
    Usage,
)

# The record step's input under the name the metrics emitter imports.
Outcome = DispatchOutcome

__all__ = [
    "Answer",
    "BufferedAnswer",
    "CompletionHook",
    "DispatchOutcome",
    "DispatchRequest",
    "Dispatcher",
    "InstancePicker",
    "Outcome",
    "PassiveHealth",
    "RetryGovernor",
    "RouteInfo",
    "StreamedAnswer",
    "Usage",
]
