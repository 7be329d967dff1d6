"""`delay`: pauses the execution for a duration or until a time; a timer resumes it (no worker sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from engine.errors import NodeError
from engine.nodes.base import NodeContext, NodeResult, NodeType, expression_string

MAX_DELAY = timedelta(days=366)


def parse_until(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise NodeError(f"'until' is not an ISO 8601 date-time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class DelayNode(NodeType):
    type = "delay"
    label = "Delay"
    group = "flow"
    description = "Pauses for duration_seconds or until an ISO date-time, then continues."
    config_schema = {
        "type": "object",
        "properties": {
            "duration_seconds": {
                "anyOf": [
                    {"type": "number", "minimum": 0, "maximum": MAX_DELAY.total_seconds()},
                    expression_string("Seconds, as an expression."),
                ]
            },
            "until": expression_string("ISO 8601 date-time, e.g. 2030-01-01T09:00:00+01:00."),
        },
        "oneOf": [{"required": ["duration_seconds"]}, {"required": ["until"]}],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        if "until" in ctx.config:
            resume_at = parse_until(ctx.field("until"))
        else:
            raw = ctx.field("duration_seconds")
            try:
                seconds = float(raw)
            except (TypeError, ValueError):
                raise NodeError(f"duration_seconds is not a number: {raw!r}") from None
            if not 0 <= seconds <= MAX_DELAY.total_seconds():
                raise NodeError(f"duration_seconds out of range: {seconds}")
            resume_at = ctx.now + timedelta(seconds=seconds)
        output = {"resume_at": resume_at.astimezone(UTC).isoformat()}
        if resume_at <= ctx.now:
            return NodeResult(output=output)
        return NodeResult(output=output, pause_kind="delay", resume_at=resume_at)
