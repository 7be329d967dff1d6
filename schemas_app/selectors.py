"""Read-side queries for schemas: what a user may see, the schema a webhook delivery starts, and
which schemas use a credential."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from config.prepared import Rider
from credentials_app.models import Credential

from .models import Schema, SchemaCredentialReference
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


def credential_usage(credentials: list[Credential]) -> dict[Any, list[dict[str, Any]]]:
    """The schemas (id, name) whose current definition names each of these credentials, by id or by
    name: {credential id: [{"id", "name"}, ...]}. One indexed query on the references kept on every
    save (`SchemaCredentialReference`), however many schemas there are."""
    if not credentials:
        return {}
    wanted = {(c.owner_id, ref): c.pk for c in credentials for ref in (str(c.pk), c.name)}
    rows = SchemaCredentialReference.objects.filter(
        owner_id__in={c.owner_id for c in credentials}, reference__in={ref for _, ref in wanted}
    ).values_list("owner_id", "reference", "schema_id", "schema__name")
    found: dict[Any, dict[str, dict[str, Any]]] = {c.pk: {} for c in credentials}
    for owner_id, reference, schema_id, name in rows:
        credential_id = wanted.get((owner_id, reference))
        if credential_id is not None:
            found[credential_id][str(schema_id)] = {"id": str(schema_id), "name": name}
    return {pk: sorted(s.values(), key=lambda s: (s["name"], s["id"])) for pk, s in found.items()}


def schemas_using_credential(credential: Credential) -> list[dict[str, Any]]:
    """The owner's schemas whose current definition names this credential (by id or by name)."""
    return credential_usage([credential])[credential.pk]
