"""The request pipeline: parse → authenticate → plan → admit → cache → dispatch → record.

A route module parses its protocol into a `ParsedRequest`, calls `run_pipeline`, and renders
the typed answer (`render` for the OpenAI wire). See docs/architecture.md.
"""

from router.pipeline.policy import OpenPolicy, Policy
from router.pipeline.render import render
from router.pipeline.run import run_pipeline
from router.pipeline.types import Admission, ParsedRequest

__all__ = ["Admission", "OpenPolicy", "ParsedRequest", "Policy", "render", "run_pipeline"]
