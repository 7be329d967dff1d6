"""`schedule_trigger`: cron schedule in a time zone; `next_fire_time` is used by the scheduler adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from engine.nodes.base import NodeContext, NodeResult, NodeType


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def next_fire_time(config: dict[str, Any], after: datetime) -> datetime:
    """The first fire time strictly after `after` (aware), returned in UTC.

    Evaluated in the schedule's zone so "0 9 * * *" means 09:00 local across DST changes.
    """
    zone = _zone(str(config.get("timezone") or "UTC"))
    if after.tzinfo is None:
        after = after.replace(tzinfo=UTC)
    nxt: datetime = croniter(str(config["cron"]), after.astimezone(zone)).get_next(datetime)
    return nxt.astimezone(UTC)


class ScheduleTrigger(NodeType):
    type = "schedule_trigger"
    label = "Schedule"
    group = "trigger"
    description = "Starts the schema on a cron schedule in a time zone; output has the scheduled time."
    is_trigger = True
    config_schema = {
        "type": "object",
        "properties": {
            "cron": {"type": "string", "minLength": 1, "description": "Cron expression, e.g. '*/5 * * * *'."},
            "timezone": {"type": "string", "default": "UTC", "description": "IANA zone, e.g. 'Europe/Berlin'."},
        },
        "required": ["cron"],
        "additionalProperties": False,
    }

    def config_problems(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        cron = config.get("cron", "")
        if not croniter.is_valid(cron):
            problems.append(("cron", f"invalid cron expression {cron!r}"))
        try:
            _zone(str(config.get("timezone") or "UTC"))
        except ValueError as exc:
            problems.append(("timezone", str(exc)))
        return problems

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(output=ctx.trigger)
