"""The container health-check contract, in one place.

The image's Dockerfile HEALTHCHECK line must equal `dockerfile_healthcheck()` (a test checks
it), /health reports these values, and the ECS task definition can import them instead of
copying numbers. No imports beyond the standard library, so infra code can load this file.
"""

from __future__ import annotations

# ECS accepts a container health-check startPeriod of 0 to 300 s and its container definition
# overrides the image's HEALTHCHECK, so 300 s is the most any host can give. A model that
# cannot download and load in 300 s should bake its weights into the image (BAKE_MODEL=1).
START_PERIOD_S = 300
INTERVAL_S = 15
TIMEOUT_S = 5
RETRIES = 3
# What is probed: 200 only once the backend has loaded and the server is not draining.
PATH = "/ping"


def dockerfile_healthcheck() -> str:
    return (
        f"HEALTHCHECK --interval={INTERVAL_S}s --timeout={TIMEOUT_S}s "
        f"--start-period={START_PERIOD_S}s --retries={RETRIES} \\\n"
        f'  CMD curl -fsS "http://127.0.0.1:${{PORT}}{PATH}" || exit 1'
    )


def as_dict() -> dict[str, int | str]:
    return {
        "start_period_s": START_PERIOD_S,
        "interval_s": INTERVAL_S,
        "timeout_s": TIMEOUT_S,
        "retries": RETRIES,
        "path": PATH,
    }
