"""`manage.py rotate_credential_keys`: re-encrypt every credential under the newest key.

Run after putting a new key first in `SCHEMA_CREDENTIAL_KEYS` on every process (the old key stays
in the list until this has finished). Resumable: interrupted, it continues where it stopped.
`--status` only counts the rows per key; `--generate-key` prints a new key to put first.
"""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from credentials_app import crypto
from credentials_app.models import Credential
from credentials_app.services import RotationReport, credentials_rotate_keys


class Command(BaseCommand):
    help = "Re-encrypt every credential under the newest key in SCHEMA_CREDENTIAL_KEYS (resumable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--status", action="store_true", help="only show how many rows each key encrypts")
        parser.add_argument("--generate-key", action="store_true", help="print a new key and exit")
        parser.add_argument("--batch-size", type=int, default=100)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate_key"]:
            self.stdout.write(crypto.generate_key())
            return
        current = crypto.current_key_id()
        known = {crypto.key_fingerprint(k): i for i, k in enumerate(crypto.configured_keys())}
        counts = Credential.objects.values("key_id").annotate(n=Count("id")).order_by("key_id")
        for row in counts:
            where = known.get(row["key_id"])
            label = "newest" if row["key_id"] == current else (f"key #{where + 1}" if where is not None else "NO KEY")
            self.stdout.write(f"{row['key_id']} ({label}): {row['n']} credential(s)")
        if options["status"]:
            return

        def progress(report: RotationReport) -> None:
            self.stdout.write(f"re-encrypted {report.rotated} so far")

        report = credentials_rotate_keys(
            batch_size=max(1, options["batch_size"]), operator=getpass.getuser(), progress=progress
        )
        self.stdout.write(
            f"done: {report.rotated} re-encrypted under {current}, {report.failed} failed, "
            f"{report.remaining} not under the newest key"
        )
        if report.failed:
            raise CommandError(
                f"{report.failed} credential(s) could not be decrypted with any configured key; "
                "put the key that encrypted them back into SCHEMA_CREDENTIAL_KEYS and run this again."
            )
        if not report.remaining:
            self.stdout.write("Every credential is under the newest key: older keys may now be removed.")
