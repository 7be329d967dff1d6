"""Admin for operators: variables (owner-level and global), their values, versions and who changed them."""

from __future__ import annotations

from django.contrib import admin

from .models import Variable


@admin.register(Variable)
class VariableAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "owner", "value", "version", "updated_by", "updated_at"]
    list_filter = ["updated_at"]
    search_fields = ["name", "owner__email", "description"]
    readonly_fields = ["version", "created_at", "updated_at", "updated_by"]

    def save_model(self, request, obj: Variable, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        # The same bookkeeping as the API's services: who changed it, and a new version.
        obj.updated_by = request.user
        if change:
            obj.version += 1
        super().save_model(request, obj, form, change)
