"""Retry policies of nodes: parsing, their JSON Schema, and the back-off delay of each try.

Every node may carry `retry: {max_attempts, backoff: fixed|exponential, base_seconds,
max_seconds, jitter}`. Without one a node runs once. Jitter spreads retries of many executions
that failed together (equal jitter: half the delay fixed, half random).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

MAX_ATTEMPTS_LIMIT = 100
MAX_DELAY_SECONDS = 7 * 24 * 3600

RETRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": MAX_ATTEMPTS_LIMIT},
        "backoff": {"enum": ["fixed", "exponential"]},
        "base_seconds": {"type": "number", "minimum": 0, "maximum": MAX_DELAY_SECONDS},
        "max_seconds": {"type": "number", "minimum": 0, "maximum": MAX_DELAY_SECONDS},
        "jitter": {"type": "boolean"},
    },
}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 1
    backoff: str = "fixed"
    base_seconds: float = 1.0
    max_seconds: float = 300.0
    jitter: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RetryPolicy:
        """Lenient: the walker runs validated definitions, so odd values fall back to defaults."""
        if not data:
            return cls()
        defaults = cls()

        def number(key: str, default: float) -> float:
            value = data.get(key, default)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default

        attempts = data.get("max_attempts", 1)
        return cls(
            max_attempts=max(1, min(int(attempts), MAX_ATTEMPTS_LIMIT)) if isinstance(attempts, int) else 1,
            backoff=str(data["backoff"]) if data.get("backoff") in ("fixed", "exponential") else "fixed",
            base_seconds=max(0.0, number("base_seconds", defaults.base_seconds)),
            max_seconds=max(0.0, number("max_seconds", defaults.max_seconds)),
            jitter=bool(data.get("jitter", False)),
        )

    def delay_seconds(self, failed_tries: int, rng: random.Random | None = None) -> float:
        """Delay before the next try after `failed_tries` failures (1 for the first failure)."""
        if self.backoff == "exponential":
            delay = self.base_seconds * (2 ** max(0, min(failed_tries - 1, 60)))
        else:
            delay = self.base_seconds
        delay = min(delay, self.max_seconds) if self.max_seconds else delay
        if self.jitter and delay > 0:
            delay = delay / 2 + float((rng or random).uniform(0, delay / 2))
        return float(delay)


def retry_problems(data: Any) -> list[tuple[str, str]]:
    """Semantic checks JSON Schema cannot express: (field, message) pairs."""
    if not isinstance(data, dict):
        return []
    base, cap = data.get("base_seconds"), data.get("max_seconds")
    if isinstance(base, int | float) and isinstance(cap, int | float) and cap < base:
        return [("max_seconds", "max_seconds must be greater than or equal to base_seconds")]
    return []
