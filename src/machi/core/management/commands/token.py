from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from machi.core import services
from machi.core.models import User


class Command(BaseCommand):
    help = "API tokens. `machi token create USERNAME` prints the token alone on its last line."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token for a staff user")
        create.add_argument("username")
        create.add_argument("--name", default="cli", help="what the token is for")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        try:
            token, secret = services.token_create(user=user, name=options["name"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"Token {token.prefix}… for {user.username} ({token.name}). "
            "It is shown once; store it now."
        )
        self.stdout.write(secret)
