"""Read-side queries for schemas: what a user may see, and the schema a webhook delivery starts."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from config.prepared import Rider

from .models import Schema
from .sql import queries


def schemas_visible_to(user: User) -> QuerySet[Schema]:
    qs = Schema.objects.select_related("created_by")
    return qs if user.is_staff else qs.filter(created_by=user)


def webhook_schema(schema_id: Any, rider: Rider | None = None) -> Schema | None:
    """The active schema with a webhook trigger and this id (only the fields the webhook uses), or None.
    With a `rider` the rate-limit statement fetched (`webhook_schema_rider`), no query is sent."""
    return queries().webhook_schema(schema_id, rider)


def webhook_schema_rider(schema_id: Any) -> Rider | None:
    """The read of `webhook_schema`, to ride on the webhook's rate-limit statement (both scopes are
    counted before the view runs, for unknown ids too): one round trip less. None: no fast path."""
    return queries().webhook_schema_rider(schema_id)
