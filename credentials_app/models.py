"""Credentials: secrets a user's nodes may use (API tokens, passwords, OAuth2 clients).

Own table (`credentials`), one owner, name unique per owner. The non-secret fields of the type
(user name, header name, token URL, client id …) are plain JSON (`public_data`); the secret ones are
one Fernet token (`secret_data`), and so is a cached OAuth2 access token (`token_data`); `key_id`
names the key that encrypted them (`crypto.py`). `hint` is a masked hint ("••••cdef") so a user can
tell two tokens apart; nothing else of a secret is readable without the keys.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from engine.http.auth import CREDENTIAL_TYPES

TYPE_CHOICES = [(t.type, t.label) for t in CREDENTIAL_TYPES.values()]


class Credential(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=32, choices=TYPE_CHOICES)
    public_data = models.JSONField(default=dict, blank=True)
    secret_data = models.TextField()
    hint = models.CharField(max_length=32, blank=True, default="")
    token_data = models.TextField(blank=True, default="")
    token_expires_at = models.DateTimeField(null=True, blank=True)
    key_id = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "credentials"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="credentials_unique_name_per_owner"),
            models.CheckConstraint(condition=Q(type__in=list(CREDENTIAL_TYPES)), name="credentials_type_valid"),
        ]
        indexes = [models.Index(fields=["key_id"], name="idx_credentials_key_id")]

    def __str__(self) -> str:
        return self.name
