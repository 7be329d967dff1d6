"""Admin for operators: credentials listed with their metadata only.

No admin page shows, accepts or sends back a secret: every field is read-only, the encrypted
columns are not even on the page, and credentials are created and changed through the API
(the editor's Credentials page), where secret fields are write-only.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import Credential


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "type", "owner", "hint", "last_used_at", "updated_at"]
    list_filter = ["type", "created_at", "last_used_at"]
    search_fields = ["name", "id", "owner__email"]
    fields = (
        "id",
        "name",
        "type",
        "owner",
        "public_data",
        "hint",
        "token_expires_at",
        "key_id",
        "created_at",
        "updated_at",
        "updated_by",
        "last_used_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Credential | None = None) -> bool:
        return False  # the view page stays (read-only, no secret); edits go through the API
