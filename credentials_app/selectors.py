"""Read-side queries for credentials: what a user may see, and the credential a node names."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from accounts.models import User

from .models import Credential


def credentials_visible_to(user: User) -> QuerySet[Credential]:
    qs = Credential.objects.select_related("owner", "updated_by")
    return qs if user.is_staff else qs.filter(owner=user)


def credential_of_owner(owner_id: Any, reference: str) -> Credential | None:
    """The owner's credential with this id or, failing that, this name (names are unique per owner)."""
    if owner_id is None or not reference:
        return None
    qs = Credential.objects.filter(owner_id=owner_id)
    try:
        as_id = uuid.UUID(reference)
    except ValueError:
        as_id = None
    if as_id is not None:
        found = qs.filter(pk=as_id).first()
        if found is not None:
            return found
    return qs.filter(name=reference).first()


def missing_references(owner_id: Any, references: set[str]) -> set[str]:
    """Which of these references (ids or names) name none of the owner's credentials."""
    if not references:
        return set()
    if owner_id is None:
        return set(references)
    known: set[str] = set()
    for pk, name in Credential.objects.filter(owner_id=owner_id).values_list("id", "name"):
        known.update((str(pk), name))
    return {ref for ref in references if ref not in known}
