"""Schema models: the spec's `schemas` table plus immutable published versions.

`Schema.definition` is the editable graph (format in docs/contracts.md). Every change of the
definition increments `version` and stores an immutable `SchemaVersion`; an execution pins the
version it started with, so editing a schema never changes a running execution.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class SchemaStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class Schema(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    definition = models.JSONField()
    status = models.CharField(
        max_length=16, choices=SchemaStatus.choices, default=SchemaStatus.DRAFT, db_default=SchemaStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_column="created_by",
        related_name="schemas",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())
    # Beyond the spec's columns: version counter and the webhook trigger's shared secret.
    version = models.PositiveIntegerField(default=1, db_default=1)
    webhook_secret = models.CharField(max_length=128, default=new_webhook_secret)
    # After a rotation with a grace period the previous secret keeps working until this time, so
    # senders can be switched over without dropping deliveries.
    webhook_secret_previous = models.CharField(max_length=128, blank=True, default="")
    webhook_secret_previous_expires_at = models.DateTimeField(null=True, blank=True)
    # Paused by an operator (executions_app/pausing.py): triggers start nothing new until resumed.
    paused_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "schemas"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status"], name="idx_schemas_status"),
            models.Index(fields=["-created_at", "-id"], name="idx_schemas_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=SchemaStatus.values), name="schemas_status_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class SchemaVersion(models.Model):
    """An immutable copy of a schema's definition at one version."""

    id = models.BigAutoField(primary_key=True)
    schema = models.ForeignKey(Schema, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "schema_versions"
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["schema", "version"], name="schema_versions_unique_version"),
        ]

    def __str__(self) -> str:
        return f"{self.schema_id} v{self.version}"


class SchemaCredentialReference(models.Model):
    """A credential (id or name) that a schema's current definition names, kept on every save of the
    definition (`services`), so "where used" is an indexed lookup instead of a scan of definitions.
    A reference is text, not a foreign key: a draft may name a credential created later."""

    id = models.BigAutoField(primary_key=True)
    schema = models.ForeignKey(Schema, on_delete=models.CASCADE, related_name="credential_references")
    # The schema's owner, whose credentials the reference resolves among (Schema.created_by).
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reference = models.CharField(max_length=255)

    class Meta:
        db_table = "schema_credential_references"
        constraints = [
            models.UniqueConstraint(fields=["schema", "reference"], name="schema_credential_reference_unique"),
        ]
        indexes = [models.Index(fields=["owner", "reference"], name="idx_schema_cred_ref_owner")]

    def __str__(self) -> str:
        return self.reference
