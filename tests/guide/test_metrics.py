"""The retrieval metrics, each on a case worked out by hand."""

from __future__ import annotations

import math

import pytest

from machi.guide import metrics

# Ranking d1..d5; d2 is correct (grade 2), d4 relevant (grade 1), d9 relevant but never found.
RANKING = ["d1", "d2", "d3", "d4", "d5"]
QRELS = {"d2": 2, "d4": 1, "d9": 1, "d3": 0}


def test_success_counts_a_hit_within_the_first_k() -> None:
    assert metrics.success_at(RANKING, QRELS, 1) == 0.0
    assert metrics.success_at(RANKING, QRELS, 2) == 1.0
    assert metrics.success_at(RANKING, QRELS, 5) == 1.0


def test_grade_zero_is_not_a_hit() -> None:
    assert metrics.success_at(["d3"], QRELS, 1) == 0.0


def test_precision_divides_by_k_even_when_the_ranking_is_shorter() -> None:
    assert metrics.precision_at(RANKING, QRELS, 5) == pytest.approx(2 / 5)
    assert metrics.precision_at(["d2"], QRELS, 5) == pytest.approx(1 / 5)


def test_average_precision_counts_the_hits_never_found() -> None:
    # Hits at ranks 2 and 4: precisions 1/2 and 2/4; three relevant documents in all.
    assert metrics.average_precision(RANKING, QRELS) == pytest.approx((1 / 2 + 2 / 4) / 3)


def test_reciprocal_rank_of_the_first_hit() -> None:
    assert metrics.reciprocal_rank(RANKING, QRELS) == pytest.approx(1 / 2)
    assert metrics.reciprocal_rank(["d1", "d3"], QRELS) == 0.0


def test_ndcg_uses_graded_gains() -> None:
    dcg = (2**2 - 1) / math.log2(3) + (2**1 - 1) / math.log2(5)
    ideal = (2**2 - 1) / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg_at(RANKING, QRELS, 10) == pytest.approx(dcg / ideal)


def test_ndcg_is_one_for_the_ideal_ranking() -> None:
    assert metrics.ndcg_at(["d2", "d4", "d9", "d1"], QRELS, 10) == pytest.approx(1.0)


def test_ndcg_cut_at_k() -> None:
    assert metrics.ndcg_at(RANKING, QRELS, 1) == 0.0


def test_evaluate_averages_over_judged_queries_only() -> None:
    rankings = {"q1": ["a", "b"], "q2": ["x", "y"], "q3": ["z"]}
    qrels = {"q1": {"a": 2}, "q2": {"y": 1}, "q3": {"z": 0}}  # q3 has no hit: left out

    result = metrics.evaluate(rankings, qrels)

    assert result["SR@1"] == pytest.approx(0.5)
    assert result["SR@3"] == pytest.approx(1.0)
    assert result["MRR"] == pytest.approx((1 + 1 / 2) / 2)
    assert result["MAP"] == pytest.approx((1 + 1 / 2) / 2)
    assert result["P@5"] == pytest.approx((1 / 5 + 1 / 5) / 2)
    assert set(result) == {"SR@1", "SR@3", "SR@5", "P@5", "MAP", "MRR", "nDCG@10"}


def test_evaluate_counts_an_unanswered_query_as_a_miss() -> None:
    result = metrics.evaluate({}, {"q1": {"a": 1}})
    assert result["SR@5"] == 0.0


def test_evaluate_refuses_qrels_without_any_hit() -> None:
    with pytest.raises(ValueError, match="no query"):
        metrics.evaluate({"q1": ["a"]}, {"q1": {"a": 0}})
