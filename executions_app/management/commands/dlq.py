"""`manage.py dlq list|show <n>|requeue [<n> ...|--all]|purge`: operate the dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from executions_app import dlq


class Command(BaseCommand):
    help = "Inspect and repair schema_execution_dlq (dead-lettered execution messages)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="One line per dead message.")
        listing.add_argument("--limit", type=int, default=100)
        show = sub.add_parser("show", help="Everything about one message (index from `list`).")
        show.add_argument("index", type=int)
        requeue = sub.add_parser("requeue", help="Move messages back to the run queue each died in.")
        requeue.add_argument("indexes", type=int, nargs="*")
        requeue.add_argument("--all", action="store_true")
        purge = sub.add_parser("purge", help="Delete every dead message.")
        purge.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args: Any, **options: Any) -> None:
        url = settings.CELERY_BROKER_URL
        if not url.startswith("amqp"):
            raise CommandError("The dead-letter queue exists only with RabbitMQ (RABBITMQ_URL=amqp://...).")
        action = options["action"]
        if action == "list":
            letters = dlq.dlq_list(url, options["limit"])
            if not letters:
                self.stdout.write("The dead-letter queue is empty.")
            for letter in letters:
                reason = letter.reason.strip().splitlines()[-1][:120] if letter.reason else ""
                self.stdout.write(f"{letter.index:>4}  {letter.task}  args={json.dumps(letter.args)}  {reason}")
        elif action == "show":
            letters = dlq.dlq_list(url, options["index"] + 1)
            if options["index"] >= len(letters):
                raise CommandError(f"No message at index {options['index']} ({len(letters)} in the queue).")
            letter = letters[options["index"]]
            self.stdout.write(
                json.dumps(
                    {
                        "task": letter.task,
                        "args": letter.args,
                        "kwargs": letter.kwargs,
                        "headers": letter.headers,
                        "reason": letter.reason,
                    },
                    indent=2,
                    default=str,
                )
            )
        elif action == "requeue":
            if not options["all"] and not options["indexes"]:
                raise CommandError("Give message indexes (from `dlq list`) or --all.")
            moved = dlq.dlq_requeue(url, None if options["all"] else set(options["indexes"]))
            where = ", ".join(f"{count} to {queue}" for queue, count in sorted(moved.items()))
            self.stdout.write(
                self.style.SUCCESS(f"Requeued {sum(moved.values())} message(s){': ' + where if where else ''}.")
            )
        elif action == "purge":
            if not options["yes"] and input("Delete every dead-lettered message? [y/N] ").lower() != "y":
                self.stdout.write("Nothing deleted.")
                return
            self.stdout.write(self.style.SUCCESS(f"Purged {dlq.dlq_purge(url)} message(s)."))
