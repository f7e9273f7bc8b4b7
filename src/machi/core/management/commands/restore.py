"""``machi restore PATH``: put an installation back as a backup has it (see docs/backup.md)."""

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
        "Restore the database, the queue and the data folder's files from a backup written "
        "by `machi backup`, after checking every file's SHA-256. Stop the web server and the "
        "worker first. Exit status: 0 done, 1 refused or failed, 2 bad usage, 3 the backup "
        "is damaged."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", metavar="PATH", help="a backup folder, .tar or .tar.gz")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace an installation that has data (SQLite: what is replaced is kept "
            "in the data folder's pre-restore-<time>/)",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="only verify the backup and that this Machi can restore it; change nothing",
        )
        parser.add_argument(
            "--skip-queue",
            action="store_true",
            help="keep this installation's queue instead of the backup's pending tasks",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # A timer's stop (SIGTERM) unwinds like Ctrl-C: the half-written files are removed.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        try:
            result = backup.backup_restore(
                path=Path(options["path"]),
                force=options["force"],
                check_only=options["check"],
                restore_queue=not options["skip_queue"],
                say=self.stdout.write if options["verbosity"] >= 2 else backup.quiet,
            )
        except backup.BackupError as exc:
            raise CommandError(str(exc), returncode=exc.exit_code) from exc
        manifest = result.manifest
        database = manifest["database"]
        made = (
            f"made {manifest['created_at']} on {manifest['host']} by Machi "
            f"{manifest['machi_version']}: {database['vendor']} {database['version']}, "
            f"{sum(database['tables'].values()):,} rows, "
            f"{sum(1 for e in manifest['files'] if e['path'].startswith(backup.FILES))} files"
        )
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        if options["check"]:
            self.stdout.write(self.style.SUCCESS(f"The backup is whole and restorable ({made})."))
            return
        if result.migrations_applied:
            self.stdout.write(f"Applied {result.migrations_applied} migration(s).")
        if result.set_aside is not None:
            what = "What" if database["vendor"] == "sqlite" else "The files"
            self.stdout.write(f"{what} the restore replaced: kept in {result.set_aside}.")
        self.stdout.write(
            self.style.SUCCESS(f"Restored in {result.seconds:.1f} s from the backup {made}.")
        )
        self.stdout.write("Start the web server and the worker again.")
