"""Evaluation of the guide's search on an FAQ retrieval set (the LocalgovFAQ JSON layout).

Three files:

* ``corpus.json``: ``{doc_id: "Question: …\\nAnswer: …"}``; a text without those prefixes is
  read as its first line (the question) and the rest (the answer); ``{"question", "answer"}``
  objects are accepted too;
* ``queries.json``: ``{query_id: text}``;
* ``qrels.json``: ``{query_id: {doc_id: grade}}``, grade 2 = correct, 1 = relevant, 0 = not.

A fresh index is built from the corpus, every judged query is answered, and the metrics of
:mod:`machi.guide.metrics` are averaged over the queries with at least one relevant entry.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from machi.guide import metrics, text
from machi.guide.engine import Doc, Index

_QUESTION = re.compile(r"^\s*(?:question|q)\s*[:：]\s*", re.IGNORECASE)
_ANSWER = re.compile(r"\n\s*(?:answer|a)\s*[:：]\s*", re.IGNORECASE)


class EvaluationError(ValueError):
    """A file of the evaluation set is missing or malformed; the message names it."""


@dataclass(frozen=True)
class EvaluationSet:
    docs: list[Doc]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    metrics: dict[str, float]
    build_seconds: float
    latency_ms: dict[str, float]
    docs: int
    queries: int
    skipped: int
    rankings: dict[str, list[str]]

    def figures(self) -> dict[str, Any]:
        """The report as one flat mapping (the command's last line of JSON)."""
        return {
            **{name: round(value, 4) for name, value in self.metrics.items()},
            "latency_p50_ms": round(self.latency_ms["p50"], 2),
            "latency_p95_ms": round(self.latency_ms["p95"], 2),
            "build_seconds": round(self.build_seconds, 2),
            "docs": self.docs,
            "queries": self.queries,
            "skipped": self.skipped,
        }


def _read_object(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EvaluationError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise EvaluationError(f"{path}: cannot read it ({error})") from error
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise EvaluationError(
            f"{path}: not JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from error
    if not isinstance(data, dict):
        raise EvaluationError(f"{path}: expected a JSON object, found a {type(data).__name__}")
    if not data:
        raise EvaluationError(f"{path}: the object is empty")
    return data


def parse_entry(doc_id: str, value: Any) -> Doc:
    """One corpus entry: "Question: …\\nAnswer: …", plain text, or {"question", "answer"}."""
    if isinstance(value, Mapping):
        question, answer = value.get("question"), value.get("answer", "")
        if not isinstance(question, str) or not isinstance(answer, str):
            raise ValueError('an object entry needs "question" (and "answer") strings')
        return _doc(doc_id, question, answer)
    if not isinstance(value, str):
        raise ValueError(f"expected a text, found a {type(value).__name__}")
    body = value.replace("\r\n", "\n").strip()
    prefixed = _QUESTION.match(body)
    if prefixed:
        body = body[prefixed.end() :]
        parts = _ANSWER.split(body, maxsplit=1)
        question, answer = parts[0], parts[1] if len(parts) > 1 else ""
    else:
        question, _, answer = body.partition("\n")
    return _doc(doc_id, question, answer)


def _doc(doc_id: str, question: str, answer: str) -> Doc:
    question, answer = question.strip(), answer.strip()
    language = text.detect_language(f"{question}\n{answer}")
    return Doc(id=doc_id, question=question, answer=answer, language=language)


def load_set(corpus: Path, queries: Path, qrels: Path) -> EvaluationSet:
    """Read and check the three files; EvaluationError names the file and what is wrong."""
    docs: list[Doc] = []
    for doc_id, value in _read_object(corpus).items():
        try:
            docs.append(parse_entry(str(doc_id), value))
        except ValueError as error:
            raise EvaluationError(f"{corpus}: entry {doc_id!r}: {error}") from error
    if not any(doc.question or doc.answer for doc in docs):
        raise EvaluationError(f"{corpus}: every entry is empty")

    texts: dict[str, str] = {}
    for qid, value in _read_object(queries).items():
        if not isinstance(value, str):
            raise EvaluationError(
                f"{queries}: query {qid!r}: expected a text, found a {type(value).__name__}"
            )
        texts[str(qid)] = value

    judgements: dict[str, dict[str, int]] = {}
    for qid, grades in _read_object(qrels).items():
        if not isinstance(grades, dict):
            raise EvaluationError(
                f"{qrels}: query {qid!r}: expected {{doc_id: grade}}, "
                f"found a {type(grades).__name__}"
            )
        judged: dict[str, int] = {}
        for doc_id, grade in grades.items():
            try:
                judged[str(doc_id)] = int(float(grade))
            except (TypeError, ValueError):
                raise EvaluationError(
                    f"{qrels}: query {qid!r}, document {doc_id!r}: grade {grade!r} is not a number"
                ) from None
        judgements[str(qid)] = judged

    warnings: list[str] = []
    known = {doc.id for doc in docs}
    unknown_docs = sorted({d for grades in judgements.values() for d in grades} - known)
    if unknown_docs:
        warnings.append(
            f"{qrels}: {len(unknown_docs)} judged document(s) not in {corpus.name} "
            f"(e.g. {', '.join(unknown_docs[:3])})"
        )
    unanswerable = sorted(set(judgements) - set(texts))
    if unanswerable:
        warnings.append(
            f"{qrels}: {len(unanswerable)} judged query id(s) not in {queries.name} "
            f"(e.g. {', '.join(unanswerable[:3])}): left out"
        )
        for qid in unanswerable:
            del judgements[qid]
    if not any(g >= 1 for grades in judgements.values() for g in grades.values()):
        raise EvaluationError(
            f"{qrels}: no query of {queries.name} has a relevant document (grade ≥ 1)"
        )
    return EvaluationSet(docs=docs, queries=texts, qrels=judgements, warnings=warnings)


def run(
    evaluation: EvaluationSet,
    *,
    k: int = 10,
    progress: Callable[[str], None] | None = None,
    index: Index | None = None,
) -> Report:
    """Build an index from the corpus (unless given one), answer the judged queries, measure."""
    started = time.perf_counter()
    if index is None:
        index = Index.build(evaluation.docs)
    build_seconds = time.perf_counter() - started
    if progress:
        progress(f"index of {len(index)} entries built in {build_seconds:.1f} s")

    judged = [
        qid
        for qid, grades in evaluation.qrels.items()
        if any(g >= 1 for g in grades.values()) and qid in evaluation.queries
    ]
    rankings: dict[str, list[str]] = {}
    latencies: list[float] = []
    for qid in judged:
        started = time.perf_counter()
        hits = index.search(evaluation.queries[qid], k=k)
        latencies.append((time.perf_counter() - started) * 1000)
        rankings[qid] = [hit.id for hit in hits]
    scores = metrics.evaluate(rankings, {qid: evaluation.qrels[qid] for qid in judged})
    p50, p95 = np.percentile(latencies, [50, 95]) if latencies else (0.0, 0.0)
    return Report(
        metrics=scores,
        build_seconds=build_seconds,
        latency_ms={"p50": float(p50), "p95": float(p95)},
        docs=len(index),
        queries=len(judged),
        skipped=len(evaluation.qrels) - len(judged),
        rankings=rankings,
    )
