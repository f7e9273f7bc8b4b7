"""Commands with subcommands (``machi wifi simulate``, ``machi guide evaluate`` …).

A command lists its subcommands in ``actions``; each NAME has ``_add_NAME(self, subparsers)``,
which declares its arguments, and ``_NAME(self, options)``, which runs it.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand


class SubcommandsCommand(BaseCommand):
    actions: tuple[str, ...] = ()

    def add_arguments(self, parser: Any) -> None:
        subparsers = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for action in self.actions:
            getattr(self, f"_add_{action}")(subparsers)

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)


def positive_int(text: str) -> int:
    """An argparse type: a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value
