"""`manage.py create_api_token <email> [--rotate]`: print an API token for scripts.

Scripts authenticate with `Authorization: Token <key>`. `--rotate` replaces an existing token.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token

from accounts.models import User


class Command(BaseCommand):
    help = "Create (or rotate) the API token of a user and print it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--rotate", action="store_true", help="Replace the existing token.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = User.objects.get(email__iexact=options["email"])
        except User.DoesNotExist as exc:
            raise CommandError(f"No user with e-mail {options['email']!r}.") from exc
        if options["rotate"]:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
