"""`manage.py prune_executions --older-than 30d`: delete finished executions in batches."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from executions_app.retention import prune_executions

_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if not match:
        raise CommandError(f"--older-than must look like 30d, 12h or 90m, not {text!r}.")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = "Delete finished executions (with their steps) older than the given age, in batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", required=True, help="Age such as 30d, 12h, 90m.")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        cutoff = timezone.now() - parse_age(options["older_than"])
        deleted = prune_executions(older_than=cutoff, batch_size=options["batch_size"])
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} execution(s) created before {cutoff:%Y-%m-%d %H:%M}."))
