"""Automatic canary evaluation: compare each canary with its stable version, roll back if worse.

While a rollout item (`rollout#<model>`) carries a `canary` block (written by the admin canary
change: stable, canary, since), every router process evaluates both arms from its own outcome
window (`router.outcomes`) with the pure `routing.canary.evaluate_canary`. On `rollback` it
writes the rollout back to stable with a conditional write that only succeeds if the item is
still the one it evaluated: when several processes reach the verdict at once, one write wins and
the others find the item changed and stop, so the weights never flap. The item then holds
`auto_rollback` (when, which version, why), which `GET /admin/rollouts` shows.

It runs as a background task after the window's snapshot refresh (at most once per
`interval_s`), so it works on every host, Lambda included, without a timer of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from router.outcomes import OutcomeWindow
from routing.canary import (
    DEFAULT_CANARY_POLICY,
    CanaryPolicy,
    evaluate_canary,
    next_canary_weight,
)

if TYPE_CHECKING:  # the facade imports this module; these import the facade's neighbours
    from router.metrics import RouterMetrics
    from router.snapshot import SnapshotStore

logger = logging.getLogger("motherfluxer.router")

ROLLOUT_PREFIX = "rollout#"
INTERVAL_S = 2.0


def rolled_back_value(value: dict[str, Any], reason: str, now: float) -> dict[str, Any]:
    """The rollout item after an automatic rollback: all weight on stable, and why."""
    canary = value["canary"]
    weights = dict.fromkeys(value.get("weights", {}), 0.0)
    weights[canary["stable"]] = 100.0
    return {
        "weights": weights,
        "auto_rollback": {
            "at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "at_epoch": round(now, 3),
            "version": canary["canary"],
            "stable": canary["stable"],
            "reason": reason,
        },
    }


def promoted_value(value: dict[str, Any], reason: str, now: float) -> dict[str, Any]:
    """The rollout item one promotion step later (5 -> 25 -> 50 -> 100 %). Each step starts a
    fresh sample (`since`), so every step is judged on traffic at its own weight."""
    canary = value["canary"]
    percent = next_canary_weight(float(canary.get("percent", 0.0)))
    weights = dict.fromkeys(value.get("weights", {}), 0.0)
    step = {"at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"), "reason": reason}
    if percent >= 100.0:
        weights[canary["canary"]] = 100.0
        return {"weights": weights, "promoted": {**step, "version": canary["canary"]}}
    weights[canary["stable"]] = 100.0 - percent
    weights[canary["canary"]] = percent
    return {
        "weights": weights,
        "canary": {**canary, "percent": percent, "since": round(now, 3)},
        "last_step": step,
    }


class CanaryWatch:
    def __init__(
        self,
        window: OutcomeWindow,
        store: SnapshotStore,
        metrics: RouterMetrics,
        *,
        policy: CanaryPolicy = DEFAULT_CANARY_POLICY,
        interval_s: float = INTERVAL_S,
        promote: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._window = window
        self._store = store
        self._metrics = metrics
        self._policy = policy
        self._interval = interval_s
        # Stepwise promotion of a canary that is not worse: off unless configured.
        self._promote = promote
        self._clock = clock
        self._last = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def attach(self) -> None:
        """Evaluate after the window's refreshes (chained behind any hook already there)."""
        previous = self._window.on_refresh

        def hook() -> None:
            if previous is not None:
                previous()
            self.kick()

        self._window.on_refresh = hook

    def kick(self) -> None:
        """Start one evaluation in the background unless one ran within `interval_s`."""
        now = self._clock()
        if now - self._last < self._interval or (self._task and not self._task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._last = now
        self._task = loop.create_task(self._run_once())

    async def _run_once(self) -> None:
        try:
            await self.evaluate()
        except Exception:
            logger.exception("canary evaluation failed; will try again")

    async def evaluate(self) -> list[dict[str, Any]]:
        """One pass over every model on canary; returns the changes this process wrote."""
        snap = self._store.current()
        done: list[dict[str, Any]] = []
        for name, value in snap.config.items():
            canary = value.get("canary") if name.startswith(ROLLOUT_PREFIX) else None
            if not isinstance(canary, dict):
                continue
            model = name[len(ROLLOUT_PREFIX) :]
            since = float(canary.get("since", 0.0))
            stable_arm = self._window.arm(model, canary["stable"], since)
            canary_arm = self._window.arm(model, canary["canary"], since)
            verdict = evaluate_canary(stable_arm, canary_arm, self._policy)
            if verdict.action == "promote" and self._promote:
                new = promoted_value(value, verdict.reason, self._clock())
                if await asyncio.to_thread(self._store.repo.put_config_if, name, new, value):
                    logger.info(
                        "canary promoted", extra={"model": model, "weights": new["weights"]}
                    )
                    done.append({"model": model, "promoted": new["weights"]})
                continue
            if verdict.action != "rollback":
                continue
            new = rolled_back_value(value, verdict.reason, self._clock())
            won = await asyncio.to_thread(self._store.repo.put_config_if, name, new, value)
            if not won:
                continue  # another process rolled it back (or an operator changed it) first
            self._metrics.count("CanaryRollbacks", model=model, version=canary["canary"])
            logger.warning(
                "canary rolled back",
                extra={
                    "model": model,
                    "version": canary["canary"],
                    "stable": canary["stable"],
                    "reason": verdict.reason,
                },
            )
            done.append({"model": model, **new["auto_rollback"]})
        if done:
            await self._store.refresh()
        return done
