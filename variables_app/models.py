"""Variables: named, non-secret values every schema of their owner reads as `{{ env.NAME }}`.

Global variables (no owner, written by staff) are shared by everyone; a user's own variable of the
same name takes precedence. Base URLs, tenant ids, feature flags: the things users would otherwise
copy into every schema. Secrets belong in credentials, not here. Each change increments `version`
and records who made it (`updated_by`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class Variable(models.Model):
    id = models.BigAutoField(primary_key=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="variables"
    )
    name = models.CharField(max_length=64)
    value = models.TextField(blank=True, default="")
    description = models.CharField(max_length=255, blank=True, default="")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "variables"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="variables_unique_name_per_owner"),
            models.UniqueConstraint(
                fields=["name"], condition=Q(owner__isnull=True), name="variables_unique_global_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name
