"""Dispatch: one admitted request in, one answer (buffered or streamed) out.

`failover` carries out the routing library's retry decisions, `relay` streams an answer once it
started, `openai_wire` holds the OpenAI wire details, `types` the data passed in and out.
"""

from router.dispatch.failover import Dispatcher, InstancePicker, PassiveHealth, RetryGovernor
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
