"""Retrieval metrics for the guide, as used by the FAQ retrieval literature (LocalgovFAQ).

Every function takes the ranked document ids the engine returned for one query and that query's
judgements (*qrels*): ``{doc_id: grade}``, grade 2 = correct (A), 1 = relevant (B), 0 or absent =
not relevant. A **hit** is a document of grade ≥ 1. The mean over queries is the figure reported;
a query without any hit in its qrels is left out of the evaluation by the caller (it cannot be
answered, and every metric would count it as a failure of the engine).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Qrels = Mapping[str, int]


def _hits(ranking: Sequence[str], qrels: Qrels) -> list[bool]:
    return [qrels.get(doc_id, 0) >= 1 for doc_id in ranking]


def success_at(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    """SR@k (success rate): 1 if at least one hit is among the first k results, else 0."""
    return 1.0 if any(_hits(ranking[:k], qrels)) else 0.0


def precision_at(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    """P@k: hits among the first k results divided by k (a short ranking's gaps are misses)."""
    return sum(_hits(ranking[:k], qrels)) / k


def average_precision(ranking: Sequence[str], qrels: Qrels) -> float:
    """AP: the mean, over all the query's hits in the qrels, of the precision at the rank of each.

    A hit the ranking does not contain adds a precision of 0, so a short ranking is not rewarded
    for what it leaves out. AP is 0 when the qrels hold no hit.
    """
    relevant = sum(1 for grade in qrels.values() if grade >= 1)
    if not relevant:
        return 0.0
    found = 0
    total = 0.0
    for rank, hit in enumerate(_hits(ranking, qrels), start=1):
        if hit:
            found += 1
            total += found / rank
    return total / relevant


def reciprocal_rank(ranking: Sequence[str], qrels: Qrels) -> float:
    """RR: 1 / rank of the first hit, 0 when the ranking holds no hit."""
    for rank, hit in enumerate(_hits(ranking, qrels), start=1):
        if hit:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    """nDCG@k with graded gains: DCG = Σ (2^grade − 1) / log2(rank + 1) over the first k results,
    divided by the DCG of the ideal ranking (the qrels' grades in decreasing order); 0 when the
    qrels hold no hit."""
    dcg = sum(
        (2 ** max(qrels.get(doc_id, 0), 0) - 1) / math.log2(rank + 1)
        for rank, doc_id in enumerate(ranking[:k], start=1)
    )
    ideal_grades = sorted((g for g in qrels.values() if g >= 1), reverse=True)[:k]
    ideal = sum((2**g - 1) / math.log2(rank + 1) for rank, g in enumerate(ideal_grades, start=1))
    return dcg / ideal if ideal else 0.0


def evaluate(rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Qrels]) -> dict[str, float]:
    """Mean SR@1, SR@3, SR@5, P@5, MAP, MRR and nDCG@10 over the queries that have a hit.

    ``rankings`` maps each query id to the ids the engine returned, best first; a judged query
    missing from ``rankings`` counts as answered with nothing.
    """
    judged = [qid for qid, grades in qrels.items() if any(g >= 1 for g in grades.values())]
    if not judged:
        raise ValueError("no query has a relevant document (grade ≥ 1) in the qrels")
    per_query = {
        "SR@1": lambda r, q: success_at(r, q, 1),
        "SR@3": lambda r, q: success_at(r, q, 3),
        "SR@5": lambda r, q: success_at(r, q, 5),
        "P@5": lambda r, q: precision_at(r, q, 5),
        "MAP": average_precision,
        "MRR": reciprocal_rank,
        "nDCG@10": lambda r, q: ndcg_at(r, q, 10),
    }
    return {
        name: sum(metric(rankings.get(qid, []), qrels[qid]) for qid in judged) / len(judged)
        for name, metric in per_query.items()
    }
