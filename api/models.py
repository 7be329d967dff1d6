"""The API's own table: shared rate-limit counters (see `api.throttling`)."""

from __future__ import annotations

from django.db import models


class ThrottleBucket(models.Model):
    """One rate-limit key (`<scope>:<ident>`): hits in the current and the previous window."""

    bucket = models.CharField(max_length=128, primary_key=True)
    window_index = models.BigIntegerField()
    hits = models.IntegerField()
    previous_hits = models.IntegerField()
    expires_at = models.FloatField(db_index=True)

    class Meta:
        db_table = "api_throttle"

    def __str__(self) -> str:
        return f"{self.bucket}: {self.hits}"
