"""Rate limits (spec §11), counted in the shared cache so every API process sees the same counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import throttling

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class UserRateThrottle(throttling.UserRateThrottle):
    scope = "user"


class AnonRateThrottle(throttling.AnonRateThrottle):
    scope = "anon"


class WebhookRateThrottle(throttling.SimpleRateThrottle):
    """Per schema: one noisy sender cannot starve the others."""

    scope = "webhook"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        schema_id = view.kwargs.get("schema_id")
        return self.cache_format % {"scope": self.scope, "ident": str(schema_id)}
