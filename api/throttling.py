"""Rate limits (spec §11): per user, per client IP, per webhook, shared by every API process.

Counters live in PostgreSQL (table `api_throttle`), so all gunicorn workers and all API pods see
the same counts. Each request is one atomic upsert (`INSERT … ON CONFLICT DO UPDATE … RETURNING`),
so concurrent requests never lose an increment — DRF's stock throttles keep a list of timestamps
in the cache and read-modify-write it (racy across processes, and a 6000/min limit would mean a
6000-entry list rewritten on every request).

The limit is a sliding window approximated from two fixed windows (the previous window's count
weighted by how much of it still overlaps, plus the current count): smooth at window edges, O(1)
storage per key. A refused request is not counted. The 429 carries `Retry-After` (DRF sets it from
`wait()`), in the API's error format (`type: throttled`).

A view with several of these throttles (the webhook: per IP and per schema) counts all its scopes
in one statement (`check_shared_throttles`: a multi-row upsert, rows in bucket order so concurrent
requests lock them in the same order); each scope is then decided exactly as alone: a refused scope
undoes its own hit, an allowed one keeps it, the 429 waits for the longest.

Scopes and settings (`REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`, `None` disables a scope):
`user` (authenticated user), `anon` (client IP of unauthenticated calls), `login` (per e-mail
address, against password guessing spread over many IPs), `webhook` (per schema), `webhook_ip`
(per client IP on the webhook endpoint, so spraying many schema ids does not escape a limit). The
client IP is `REMOTE_ADDR`, or the address `NUM_PROXIES` hops back in `X-Forwarded-For` when a
trusted proxy count is configured (`SCHEMA_TRUSTED_PROXY_COUNT`).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import connection
from rest_framework import throttling
from rest_framework.settings import api_settings

from config.prepared import Rider, execute

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

CLEANUP_PROBABILITY = 0.001
# One row per bucket (scope:ident), returning each bucket's counts; `{rows}` is one VALUES tuple
# `(%s, %s, 1, 0, %s)` per bucket counted.
_UPSERT_MANY = """
INSERT INTO api_throttle (bucket, window_index, hits, previous_hits, expires_at) VALUES {rows}
ON CONFLICT (bucket) DO UPDATE SET
    previous_hits = CASE WHEN api_throttle.window_index = EXCLUDED.window_index THEN api_throttle.previous_hits
                         WHEN api_throttle.window_index = EXCLUDED.window_index - 1 THEN api_throttle.hits
                         ELSE 0 END,
    hits = CASE WHEN api_throttle.window_index = EXCLUDED.window_index THEN api_throttle.hits + 1 ELSE 1 END,
    window_index = EXCLUDED.window_index,
    expires_at = EXCLUDED.expires_at
RETURNING bucket, hits, previous_hits
"""
_UPSERT = _UPSERT_MANY.format(rows="(%s, %s, 1, 0, %s)")
_UPSERT_MANY_SQL: dict[int, str] = {}
_UNDO = "UPDATE api_throttle SET hits = hits - 1 WHERE bucket = %s AND window_index = %s AND hits > 0"
_CLEANUP = "DELETE FROM api_throttle WHERE expires_at < %s"


def hit(key: str, duration: int, now: float) -> tuple[int, int]:
    """Counts one request for `key`; returns (count in the current window, count in the previous)."""
    window = int(now // duration)
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [key, window, (window + 2) * duration])
        _, count, previous = cursor.fetchone()
        if random.random() < CLEANUP_PROBABILITY:  # keep the table to the keys seen lately
            cursor.execute(_CLEANUP, [now])
    return int(count), int(previous)


_RIDER_SQL: dict[tuple[int, str], str] = {}


def _ridden(upsert: str, rider_sql: str, rows: int) -> str:
    """`WITH t AS (<upsert>) SELECT t.bucket, t.hits, t.previous_hits, r.* FROM t LEFT JOIN (<rider>) r
    ON true`: the counts of every bucket, each with the rider's row (a `true` marker first: NULLs
    when it found none)."""
    sql = _RIDER_SQL.get((rows, rider_sql))
    if sql is None:
        # Statement texts of our own code (the rider's too); every value is a parameter.
        joined = f" LEFT JOIN (SELECT true AS rider_found, q.* FROM ({rider_sql}) q) r ON true"  # noqa: S608
        head = f"WITH t AS ({upsert.strip()}) SELECT t.bucket, t.hits, t.previous_hits, r.* FROM t"  # noqa: S608
        sql = _RIDER_SQL[(rows, rider_sql)] = head + joined
    return sql


def hit_many(hits: Sequence[tuple[str, int, float]], *, rider: Rider | None = None) -> dict[str, tuple[int, int]]:
    """`hit` for several distinct keys `(key, duration, now)` in one statement; returns
    {key: (count in the current window, count in the previous)}. On PostgreSQL a `rider` is read
    in the same statement."""
    rows = sorted(hits)  # one lock order for every request: two upserts never wait on each other in a cycle
    sql = _UPSERT_MANY_SQL.get(len(rows))
    if sql is None:
        sql = _UPSERT_MANY_SQL[len(rows)] = _UPSERT_MANY.format(rows=", ".join(["(%s, %s, 1, 0, %s)"] * len(rows)))
    params: list[Any] = []
    for key, duration, now in rows:
        window = int(now // duration)
        params += [key, window, (window + 2) * duration]
    if connection.vendor == "postgresql":  # the webhook's first statement: prepared, no health-check round trip
        if rider is not None:
            sql, params = _ridden(sql, rider.sql, len(rows)), params + rider.params
        found, _ = execute(sql, params, repeatable=True)
        if rider is not None:
            first = found[0] if found else None
            rider.row = tuple(first[4:]) if first is not None and first[3] else None
            rider.fetched = True
            found = [row[:3] for row in found or []]
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found = cursor.fetchall()
    counts = {str(bucket): (int(count), int(previous)) for bucket, count, previous in found or []}
    if random.random() < CLEANUP_PROBABILITY * len(rows):
        with connection.cursor() as cursor:
            cursor.execute(_CLEANUP, [min(now for _, _, now in rows)])
    return counts


def undo(key: str, duration: int, now: float) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_UNDO, [key, int(now // duration)])


def seconds_until_allowed(count: int, previous: int, limit: int, duration: int, now: float) -> float:
    """How long until one more request fits, with `count`/`previous` not including it."""
    elapsed = (now % duration) / duration
    if count + 1 <= limit:
        if previous <= 0:
            return 0.0
        needed = 1 - (limit - count - 1) / previous  # fraction of this window that must pass
        return max(0.0, (needed - elapsed) * duration)
    # Not in this window: in the next one, `count` becomes the weighted previous count.
    needed = 1 - (limit - 1) / count if count > 0 else 0.0
    return (1 - elapsed) * duration + max(0.0, needed) * duration


class _SharedThrottle(throttling.SimpleRateThrottle):
    """A DRF throttle whose counts are in the database (see the module docstring)."""

    scope: str

    def __init__(self) -> None:  # rates are read per request so settings overrides apply
        self._wait: float | None = None

    def get_rate(self) -> str | None:
        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES or {}
        rate = rates.get(self.scope)
        return str(rate) if rate else None

    def ident_key(self, request: Request, view: APIView) -> str | None:
        raise NotImplementedError

    def prepare(self, request: Request, view: APIView) -> tuple[str, int, int, float] | None:
        """`(key, limit, duration, now)` of this request, or None when this scope does not apply."""
        self._wait = None
        rate = self.get_rate()
        if rate is None:
            return None
        limit, duration = self.parse_rate(rate)
        if not limit or not duration:
            return None
        ident = self.ident_key(request, view)
        if ident is None:
            return None
        if len(ident) > 80:
            ident = hashlib.sha256(ident.encode()).hexdigest()
        return f"{self.scope}:{ident}", limit, duration, self.timer()

    def decide(self, key: str, limit: int, duration: int, now: float, *, count: int, previous: int) -> bool:
        """Given the counts after this request's hit: allowed, or refused (the hit is undone)."""
        weighted = previous * (1 - (now % duration) / duration) + count
        if weighted <= limit:
            return True
        undo(key, duration, now)
        self._wait = seconds_until_allowed(count - 1, previous, limit, duration, now)
        return False

    def allow_request(self, request: Request, view: APIView) -> bool:
        prepared = self.prepare(request, view)
        if prepared is None:
            return True
        key, limit, duration, now = prepared
        count, previous = hit(key, duration, now)
        return self.decide(key, limit, duration, now, count=count, previous=previous)

    def wait(self) -> float | None:
        return None if self._wait is None else max(1.0, math.ceil(self._wait))

    timer = staticmethod(time.time)


def check_shared_throttles(
    throttles: Sequence[throttling.BaseThrottle], request: Request, view: APIView, rider: Rider | None = None
) -> list[Any]:
    """What DRF's `APIView.check_throttles` does — every throttle is asked, the refused ones'
    `wait()` are returned — with the shared throttles' counts taken in one statement (and the
    `rider` read in it, when there is one)."""
    waits: list[Any] = []
    pending: list[tuple[_SharedThrottle, tuple[str, int, int, float]]] = []
    for throttle in throttles:
        if isinstance(throttle, _SharedThrottle):
            prepared = throttle.prepare(request, view)
            if prepared is not None:
                pending.append((throttle, prepared))
        elif not throttle.allow_request(request, view):
            waits.append(throttle.wait())
    keys = [key for _, (key, _, _, _) in pending]
    counts: dict[str, tuple[int, int]] | None = None
    if len(pending) > 1 and len(set(keys)) == len(keys):
        counts = hit_many([(key, duration, now) for _, (key, _, duration, now) in pending], rider=rider)
    for throttle, (key, limit, duration, now) in pending:
        count, previous = counts[key] if counts is not None else hit(key, duration, now)
        if not throttle.decide(key, limit, duration, now, count=count, previous=previous):
            waits.append(throttle.wait())
    return waits


class SharedThrottlesMixin:
    """For a view: its shared throttles counted in one statement (see `check_shared_throttles`)."""

    def throttle_rider(self, request: Request) -> Rider | None:
        """A read the view needs anyway, to run in the rate-limit statement (see `Rider`)."""
        return None

    def check_throttles(self, request: Request) -> None:
        view: Any = self
        waits = check_shared_throttles(view.get_throttles(), request, view, self.throttle_rider(request))
        if waits:
            durations = [duration for duration in waits if duration is not None]
            view.throttled(request, max(durations, default=None))


class UserRateThrottle(_SharedThrottle):
    """Per authenticated user (anonymous requests are left to `AnonRateThrottle`)."""

    scope = "user"

    def ident_key(self, request: Request, view: APIView) -> str | None:
        user = getattr(request, "user", None)
        return str(user.pk) if user is not None and user.is_authenticated else None


class AnonRateThrottle(_SharedThrottle):
    """Per client IP, for unauthenticated requests."""

    scope = "anon"

    def ident_key(self, request: Request, view: APIView) -> str | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return None
        return self.get_ident(request)


class LoginRateThrottle(_SharedThrottle):
    """Per e-mail address on the login endpoint: password guessing from many IPs still stops."""

    scope = "login"

    def ident_key(self, request: Request, view: APIView) -> str | None:
        data = request.data  # a body that does not parse is a 400 parse_error here already
        email = data.get("email") if isinstance(data, dict) else None
        if not isinstance(email, str) or not email:
            return None
        return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class WebhookRateThrottle(_SharedThrottle):
    """Per schema: one noisy sender cannot starve the others."""

    scope = "webhook"

    def ident_key(self, request: Request, view: APIView) -> str | None:
        schema_id = view.kwargs.get("schema_id")
        return str(schema_id) if schema_id is not None else None


class WebhookIPRateThrottle(_SharedThrottle):
    """Per client IP on the webhook endpoint (its callers are anonymous)."""

    scope = "webhook_ip"

    def ident_key(self, request: Request, view: APIView) -> str | None:
        return self.get_ident(request)
