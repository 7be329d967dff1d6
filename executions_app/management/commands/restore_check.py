"""`manage.py restore_check [--json]`: after a database restore, what needs an operator's eye."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from executions_app.restore_check import RestoreReport, restore_check


class Command(BaseCommand):
    help = (
        "After a restore: broker messages for executions the database does not know (created after the "
        "backup), wake-ups naming another execution's timer, overdue timers, stuck executions. "
        "Consumes nothing. Exit status 1 when anything is found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="One JSON object instead of text.")
        parser.add_argument("--no-broker", action="store_true", help="Check the database only.")

    def handle(self, *args: Any, **options: Any) -> None:
        url = settings.CELERY_BROKER_URL
        broker = None if options["no_broker"] or not url.startswith("amqp") else url
        report = restore_check(broker_url=broker)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self._text(report, broker is not None)
        if not report.clean or report.broker_error:
            raise SystemExit(1)

    def _text(self, report: RestoreReport, broker: bool) -> None:
        write = self.stdout.write
        newest = report.newest_activity.isoformat() if report.newest_activity else "nothing (empty database)"
        write(f"Newest activity in the database: {newest} (work after it is not in this database).")
        if report.broker_error:
            write(self.style.ERROR(f"Could not read the broker: {report.broker_error}"))
        elif not broker:
            write("Broker not checked (--no-broker, or not RabbitMQ).")
        else:
            write(f"Broker: {report.messages_seen} execution message(s) read, none consumed.")
        if report.unknown_executions:
            ids = sorted({m.execution_id for m in report.unknown_executions})
            write(
                self.style.WARNING(
                    f"{len(ids)} execution(s) in the broker are unknown to the database "
                    "(created after the backup; lost unless re-triggered — the workers will drop their messages):"
                )
            )
            for m in report.unknown_executions:
                timer = f" timer {m.timer_id}" if m.timer_id is not None else ""
                eta = f" due {m.eta}" if m.eta else ""
                write(f"  {m.execution_id}  ({m.queue}{timer}{eta})")
        if report.foreign_timers:
            write(
                self.style.WARNING(
                    f"{len(report.foreign_timers)} wake-up message(s) name a timer of another execution "
                    "(ids reused after the restore; the workers drop them):"
                )
            )
            for m in report.foreign_timers:
                write(f"  {m.execution_id}  timer {m.timer_id}  ({m.queue})")
        if report.overdue_timers:
            write(
                self.style.WARNING(
                    f"{len(report.overdue_timers)} timer(s) overdue (the reconciler fires each once when beat runs):"
                )
            )
            for t in report.overdue_timers:
                write(f"  timer {t['timer_id']}  {t['execution_id']}  {t['node_id']}  {t['overdue_seconds']} s late")
        if report.stuck_executions:
            write(
                self.style.WARNING(
                    f"{len(report.stuck_executions)} execution(s) stuck (the reconciler re-publishes them):"
                )
            )
            for e in report.stuck_executions:
                write(f"  {e['execution_id']}  {e['status']} at {e['node_id']}: {e['why']} {e['since']}")
        if report.clean:
            write(self.style.SUCCESS("Nothing to report."))
