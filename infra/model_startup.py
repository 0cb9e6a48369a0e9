"""How long a model container may take to start, from one place: the image's HEALTHCHECK.

`containers/Dockerfile` declares `HEALTHCHECK --start-period=...`: the time the model server
needs to load its weights. The ECS task health check and the SageMaker start-up timeout are
derived from it, so a slower image cannot be rolled back by a shorter platform limit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

# Used only when the Dockerfile states no start period (Docker's own default is 0 s, which
# would not fit a model load); 600 s covers a Phi-2 download and load on a g5.
DEFAULT_START_SECONDS = 600
ECS_MAX_START_PERIOD = 300  # ECS accepts 0-300 s
ECS_MAX_RETRIES = 10
SAGEMAKER_MIN_STARTUP = 60
SAGEMAKER_MAX_STARTUP = 3600

_START_PERIOD = re.compile(r"--start-period=(\d+)(ms|s|m|h)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}


def image_start_seconds(containers_dir: Path) -> int:
    """The start period of the image's HEALTHCHECK, in seconds."""
    dockerfile = containers_dir / "Dockerfile"
    text = dockerfile.read_text() if dockerfile.is_file() else ""
    for line in text.splitlines():
        if line.strip().upper().startswith("HEALTHCHECK"):
            match = _START_PERIOD.search(line)
            if match:
                return math.ceil(int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return DEFAULT_START_SECONDS


@dataclass(frozen=True)
class EcsHealthTiming:
    """ECS health-check settings whose grace (start period + retries x interval) covers the
    image's start period although ECS caps the start period itself at 300 s."""

    start_period_s: int
    interval_s: int
    retries: int

    @property
    def grace_s(self) -> int:
        return self.start_period_s + self.interval_s * self.retries

    @classmethod
    def covering(
        cls, start_seconds: int, interval_s: int = 30, retries: int = 3
    ) -> EcsHealthTiming:
        start = min(start_seconds, ECS_MAX_START_PERIOD)
        rest = start_seconds - start
        if rest > interval_s * retries:
            retries = min(ECS_MAX_RETRIES, math.ceil(rest / interval_s))
            interval_s = min(300, max(interval_s, math.ceil(rest / retries)))
        return cls(start, interval_s, retries)


def sagemaker_startup_timeout(start_seconds: int) -> int:
    return max(SAGEMAKER_MIN_STARTUP, min(SAGEMAKER_MAX_STARTUP, start_seconds))
