"""``machi backup PATH``: a consistent copy of the whole installation (see docs/backup.md)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from machi.core import backup


class Command(BaseCommand):
    # Run by a timer at night or in a hurry: no need to load every URL module first.
    requires_system_checks: list[str] = []
    help = (
        "Back up the installation while it runs: the database (SQLite online backup or "
        "pg_dump), the SQLite queue and the data folder's files, with a manifest of SHA-256 "
        "sums. PATH ending in .tar.gz or .tar writes one archive, any other name a folder. "
        "Exit status: 0 done, 1 refused or failed (nothing left behind), 2 bad usage."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", metavar="PATH", help="where to write (must not exist yet)")
        parser.add_argument(
            "--force", action="store_true", help="replace PATH once the new backup is whole"
        )
        parser.add_argument(
            "--exclude-secrets",
            action="store_true",
            help="leave out the keys kept in the data folder (secret_key, VAPID and OpenID "
            "keys): keep them elsewhere, or the restored installation cannot decrypt its secrets",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # A timer's stop (SIGTERM) unwinds like Ctrl-C: the half-written files are removed.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        try:
            result = backup.backup_create(
                path=Path(options["path"]),
                force=options["force"],
                include_secrets=not options["exclude_secrets"],
                say=self.stdout.write if options["verbosity"] >= 2 else backup.quiet,
            )
        except backup.BackupError as exc:
            raise CommandError(str(exc), returncode=exc.exit_code) from exc
        manifest = result.manifest
        database = manifest["database"]
        files = [e for e in manifest["files"] if e["path"].startswith(backup.FILES)]
        queue = manifest["queue"]
        self.stdout.write(
            f"Database: {database['vendor']} {database['version']}, "
            f"{len(database['tables'])} tables, {sum(database['tables'].values()):,} rows."
        )
        if queue:
            self.stdout.write(f"Queue: {queue['pending']} pending task(s).")
        self.stdout.write(
            f"Files: {len(files)} ({sum(e['size'] for e in files) / 1e6:,.1f} MB)"
            + ("" if manifest["secrets_included"] else ", secrets left out")
            + "."
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written to {result.path} ({result.size / 1e6:,.1f} MB) "
                f"in {result.seconds:.1f} s."
            )
        )
