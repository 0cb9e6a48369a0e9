"""Mean feedback per (model, version, task) for routing's history score, read off the hot path.

Scores are normalised to -1..1 the way `routing.history.OutcomeStats` expects: thumbs (-1, 1)
as they are, stars 2..5 as (s - 3) / 2. A 1 is read as thumbs up: the API accepts it for both,
and thumbs are what the console and most clients send.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.feedback import feedback

FeedbackMeans = dict[tuple[str, str, str], tuple[float, int]]

_NORMALISED = sa.case(
    (feedback.c.score.in_((-1, 1)), sa.cast(feedback.c.score, sa.Float)),
    else_=(sa.cast(feedback.c.score, sa.Float) - 3.0) / 2.0,
)


async def feedback_means(engine: AsyncEngine, since: datetime) -> FeedbackMeans:
    """(model, version, task) -> (mean normalised score, ratings) for ratings since `since`."""
    query = (
        sa.select(
            feedback.c.model,
            feedback.c.version,
            feedback.c.task,
            sa.func.avg(_NORMALISED).label("mean"),
            sa.func.count().label("n"),
        )
        .where(feedback.c.updated_at >= since)
        .group_by(feedback.c.model, feedback.c.version, feedback.c.task)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {
        (r.model, r.version or "", r.task or ""): (float(r.mean), int(r.n))
        for r in rows
        if r.task  # history is per task; a rating of an untyped request has no bucket
    }
