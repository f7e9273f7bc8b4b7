"""``machi opendata ACTION``: tools of the open data room.

``generate [--force] [--dataset NAME]`` makes the standard datasets from the live records, checks
them and publishes the clean ones (as the minute's task does), printing one line per file.
``check FILE --layout DATASET:LAYOUT`` runs the validators on a CSV file (exit 1 on errors), e.g.
``machi opendata check 112241_evacuation_space.csv --layout evacuation_space:current``.
``layouts`` lists the layouts and their columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from machi.core.management.subcommands import SubcommandsCommand


class Command(SubcommandsCommand):
    help = "Open data tools: generate, check FILE --layout DATASET:LAYOUT, layouts."
    actions = ("generate", "check", "layouts")

    def _add_generate(self, subparsers: Any) -> None:
        parser = subparsers.add_parser("generate", help="make, check and publish the datasets")
        parser.add_argument("--force", action="store_true", help="even if nothing changed")
        parser.add_argument("--dataset", default="", metavar="NAME", help="only this dataset")

    def _generate(self, options: dict[str, Any]) -> None:
        from machi.opendata import services
        from machi.opendata.models import Dataset

        if options["dataset"]:
            services.catalogue_ensure()
            dataset = Dataset.objects.filter(name=options["dataset"]).first()
            if dataset is None:
                raise CommandError(f"No dataset named {options['dataset']!r}")
            outcomes = services.dataset_generate(dataset, force=options["force"])
        else:
            outcomes = services.refresh(force=options["force"])
        for outcome in outcomes:
            report = outcome.report
            state = "published" if report.published else "REFUSED"
            self.stdout.write(
                f"{outcome.resource.dataset.name}:{outcome.resource.key} {state} "
                f"rows={report.rows} errors={report.errors} warnings={report.warnings} "
                f"{report.seconds:.2f}s"
            )
        if not outcomes:
            self.stdout.write("Nothing changed.")
        if any(not o.report.published for o in outcomes):
            raise CommandError("Some files were not published: see the reports in the console.")

    def _add_check(self, subparsers: Any) -> None:
        parser = subparsers.add_parser("check", help="check a CSV file against a layout")
        parser.add_argument("file", type=Path)
        parser.add_argument("--layout", required=True, metavar="DATASET:LAYOUT")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def _check(self, options: dict[str, Any]) -> None:
        from machi.opendata import generators, schema, validation

        name, _sep, key = options["layout"].partition(":")
        generator = generators.BY_KEY.get(name)
        layout = next((x for x in generator.layouts if x.key == (key or "current")), None) if (
            generator
        ) else None  # fmt: skip
        if layout is None:
            raise CommandError(
                f"Unknown layout {options['layout']!r}: see `machi opendata layouts`"
            )
        try:
            data = options["file"].read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc.strerror}") from None
        report = validation.validate_csv(data, schema.columns_for(generators.columns_of(layout)))
        if options["json"]:
            self.stdout.write(json.dumps(report.to_json(), ensure_ascii=False))
        else:
            for issue in report.issues:
                where = f"row {issue.row}" + (f", {issue.column}" if issue.column else "")
                self.stdout.write(f"{issue.severity}: {where}: {issue.message()}")
            self.stdout.write(
                f"{report.rows} rows, {report.errors} errors, {report.warnings} warnings"
            )
        if not report.ok:
            raise CommandError("The file has errors.")

    def _add_layouts(self, subparsers: Any) -> None:
        subparsers.add_parser("layouts", help="list the layouts and their columns")

    def _layouts(self, options: dict[str, Any]) -> None:
        from machi.opendata import generators

        for generator in generators.GENERATORS:
            for layout in generator.layouts:
                columns = ",".join(generators.columns_of(layout))
                self.stdout.write(f"{generator.key}:{layout.key}\t{generator.title}\t{columns}")
