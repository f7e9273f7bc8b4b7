"""``machi guide ACTION``: tools of the guide room (総合案内), one subcommand each.

``evaluate`` builds a fresh search index from an FAQ corpus and measures it on judged queries
(the LocalgovFAQ JSON layout, see machi.guide.evaluation)::

    machi guide evaluate --corpus corpus.json --queries queries.json --qrels qrels.json [--k 10]

It prints SR@1, SR@3, SR@5, P@5, MAP, MRR, nDCG@10, the build time and the query latency, then
the same figures as one line of JSON, last.

``import FILE`` loads FAQ entries from a CSV file (UTF-8, BOM or CP932; matched by ID; all or
nothing), ``export [FILE]`` writes them for Excel, ``index`` builds the search index of the
published entries now (the web processes load it instead of building it).

To add a subcommand: write ``_add_<name>(self, subparsers)`` and ``_<name>(self, options)`` and
list the name in ``ACTIONS``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from machi.core.management.subcommands import SubcommandsCommand, positive_int

ACTIONS = ("evaluate", "import", "export", "index")
METRICS = ("SR@1", "SR@3", "SR@5", "P@5", "MAP", "MRR", "nDCG@10")


class Command(SubcommandsCommand):
    help = (
        "Guide (総合案内) tools. `machi guide evaluate --corpus C --queries Q --qrels R` "
        "measures the FAQ search on a judged query set."
    )
    # Nothing here touches the database: run before `machi init` too.
    requires_system_checks: list[str] = []
    actions = ACTIONS

    # -- evaluate

    def _add_evaluate(self, subparsers: Any) -> None:
        evaluate = subparsers.add_parser(
            "evaluate",
            help="measure the FAQ search on a corpus, queries and judgements (JSON)",
            description=(
                "Build a fresh index from CORPUS ({doc_id: 'Question: …\\nAnswer: …'}), answer "
                "every query of QUERIES ({qid: text}) judged in QRELS ({qid: {doc_id: grade}}, "
                "grade ≥ 1 relevant) and print SR@1/3/5, P@5, MAP, MRR, nDCG@10, build time "
                "and latency; the last line is the same as JSON."
            ),
        )
        evaluate.add_argument("--corpus", type=Path, required=True, metavar="FILE")
        evaluate.add_argument("--queries", type=Path, required=True, metavar="FILE")
        evaluate.add_argument("--qrels", type=Path, required=True, metavar="FILE")
        evaluate.add_argument(
            "--k",
            type=positive_int,
            default=10,
            help="results per query, the depth of MAP and nDCG (default %(default)s)",
        )

    def _evaluate(self, options: dict[str, Any]) -> None:
        from machi.guide import evaluation

        try:
            data = evaluation.load_set(options["corpus"], options["queries"], options["qrels"])
        except evaluation.EvaluationError as error:
            raise CommandError(str(error)) from error
        for warning in data.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(
            f"corpus: {len(data.docs)} entries; queries: {len(data.queries)}; "
            f"judged: {len(data.qrels)}"
        )
        report = evaluation.run(data, k=options["k"], progress=self.stdout.write)
        if report.skipped:
            self.stdout.write(f"{report.skipped} judged queries without a relevant entry: left out")
        self.stdout.write(f"{report.queries} queries, top {options['k']} each")
        for name in METRICS:
            self.stdout.write(f"  {name:<8} {report.metrics[name]:.3f}")
        latency = report.latency_ms
        self.stdout.write(f"  latency  p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms")
        self.stdout.write(f"  build    {report.build_seconds:.1f} s")
        self.stdout.write(json.dumps(report.figures(), ensure_ascii=False))

    # -- import, export, index (these use the database)

    def _add_import(self, subparsers: Any) -> None:
        command = subparsers.add_parser("import", help="load FAQ entries from a CSV file")
        command.add_argument("file", type=Path, metavar="FILE")

    def _import(self, options: dict[str, Any]) -> None:
        from machi.core import context
        from machi.guide import faq

        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror}") from error
        with context.acting(channel="command"):
            result = faq.import_csv(data)
        if result.errors:
            for problem in result.errors:
                self.stderr.write(f"{path}: {problem}")
            raise CommandError(f"{path}: nothing imported ({len(result.errors)} problems)")
        self.stdout.write(
            f"{result.created} added, {result.updated} changed, {result.unchanged} unchanged"
        )
        self._index(options)

    def _add_export(self, subparsers: Any) -> None:
        command = subparsers.add_parser("export", help="write the FAQ entries as CSV (Excel)")
        command.add_argument("file", type=Path, nargs="?", metavar="FILE", help="default: stdout")

    def _export(self, options: dict[str, Any]) -> None:
        import sys

        from machi.core.models import Municipality
        from machi.guide import faq

        city = Municipality.objects.first()
        data = faq.export_csv(lgcode=city.lgcode if city else "")
        if options.get("file"):
            options["file"].write_bytes(data)
        else:
            sys.stdout.buffer.write(data)

    def _add_index(self, subparsers: Any) -> None:
        subparsers.add_parser("index", help="build the search index of the published entries")

    def _index(self, options: dict[str, Any]) -> None:
        from machi.guide import services

        services.forget_index()
        index = services.current_index()
        self.stdout.write(f"search index: {len(index.docs)} entries in {services.index_path()}")
