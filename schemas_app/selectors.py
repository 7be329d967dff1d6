"""Read-side queries for schemas: what a user may see, the schema a webhook delivery starts, and
which schemas use a credential."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from config.prepared import Rider
from credentials_app.models import Credential

from .models import Schema
from .sql import queries
from .validation import credential_references


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


def credential_usage(owner_ids: set[Any]) -> dict[tuple[Any, str], list[dict[str, Any]]]:
    """Which schemas (id, name) of these owners name which credential reference (id or name) in
    their current definition: {(owner id, reference): [{"id", "name"}, ...]}."""
    usage: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    schemas = Schema.objects.filter(created_by_id__in=owner_ids).only("id", "name", "definition", "created_by_id")
    for schema in schemas.order_by("name", "id"):
        for reference in sorted({ref for _, _, _, ref in credential_references(schema.definition)}):
            usage.setdefault((schema.created_by_id, reference), []).append({"id": str(schema.id), "name": schema.name})
    return usage


def schemas_using_credential(credential: Credential) -> list[dict[str, Any]]:
    """The owner's schemas whose current definition names this credential (by id or by name)."""
    usage = credential_usage({credential.owner_id})
    seen: dict[str, dict[str, Any]] = {}
    for reference in (str(credential.pk), credential.name):
        for schema in usage.get((credential.owner_id, reference), []):
            seen[schema["id"]] = schema
    return sorted(seen.values(), key=lambda s: (s["name"], s["id"]))
