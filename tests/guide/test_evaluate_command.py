"""``machi guide evaluate``: figures on a judged set, one JSON line last, clear errors."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from machi.guide import evaluation
from tests.guide.test_engine import FAQ

FIGURES = {"SR@1", "SR@3", "SR@5", "P@5", "MAP", "MRR", "nDCG@10"}


def write(folder: Path, name: str, data: Any) -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    corpus = {d.id: f"Question: {d.question}\nAnswer: {d.answer}" for d in FAQ[:12]}
    queries = {"q1": "引越しの手続き", "q2": "住民票がほしい", "q3": "ゴミの分け方", "q4": "犬"}
    qrels = {"q1": {"move-in": 2, "move-out": 1}, "q2": {"juminhyo": 2}, "q3": {"garbage-sort": 1},
             "q4": {"dog": 0}}  # fmt: skip
    return {
        "corpus": write(tmp_path, "corpus.json", corpus),
        "queries": write(tmp_path, "queries.json", queries),
        "qrels": write(tmp_path, "qrels.json", qrels),
    }


def evaluate(files: dict[str, Path], *extra: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(
        "guide",
        "evaluate",
        "--corpus", str(files["corpus"]),
        "--queries", str(files["queries"]),
        "--qrels", str(files["qrels"]),
        *extra,
        stdout=out,
        stderr=err,
    )  # fmt: skip
    return out.getvalue(), err.getvalue()


def test_prints_every_figure_then_one_json_line(files: dict[str, Path]) -> None:
    out, _ = evaluate(files, "--k", "5")
    lines = out.strip().splitlines()
    figures = json.loads(lines[-1])

    assert set(figures) >= FIGURES
    assert {"latency_p50_ms", "latency_p95_ms", "build_seconds"} <= set(figures)
    assert figures["queries"] == 3  # q4 has no relevant entry
    assert figures["skipped"] == 1
    assert figures["docs"] == 12
    assert figures["SR@5"] == 1.0
    assert all(0.0 <= figures[name] <= 1.0 for name in FIGURES)
    for name in FIGURES:
        assert any(line.split()[:1] == [name] for line in lines[:-1]), name
    assert "latency" in out
    assert "build" in out


def test_a_plain_text_corpus_is_read_as_question_then_answer(files: dict[str, Path]) -> None:
    write(files["corpus"].parent, "corpus.json", {d.id: f"{d.question}\n{d.answer}" for d in FAQ})
    out, _ = evaluate(files)
    assert json.loads(out.strip().splitlines()[-1])["docs"] == len(FAQ)


def test_parse_entry_layouts() -> None:
    prefixed = evaluation.parse_entry("1", "Question: 住民票は？\nAnswer: 市民課です。\n二行目")
    assert (prefixed.question, prefixed.answer) == ("住民票は？", "市民課です。\n二行目")
    plain = evaluation.parse_entry("2", "住民票は？\n市民課です。")
    assert (plain.question, plain.answer) == ("住民票は？", "市民課です。")
    single = evaluation.parse_entry("3", "住民票の写しの取り方")
    assert (single.question, single.answer) == ("住民票の写しの取り方", "")
    mapping = evaluation.parse_entry("4", {"question": "Q", "answer": "A"})
    assert (mapping.question, mapping.answer) == ("Q", "A")


def test_judged_documents_missing_from_the_corpus_are_warned_about(
    files: dict[str, Path],
) -> None:
    write(files["qrels"].parent, "qrels.json", {"q1": {"move-in": 1, "gone": 2}, "q9": {"x": 1}})
    out, err = evaluate(files)
    assert "not in corpus.json" in err
    assert "not in queries.json" in err
    assert json.loads(out.strip().splitlines()[-1])["queries"] == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("corpus", "{not json", "corpus.json: not JSON"),
        ("corpus", "[1, 2]", "corpus.json: expected a JSON object, found a list"),
        ("corpus", "{}", "corpus.json: the object is empty"),
        ("corpus", '{"d1": 5}', "corpus.json: entry 'd1': expected a text, found a int"),
        ("queries", '{"q1": ["a"]}', "queries.json: query 'q1': expected a text"),
        ("qrels", '{"q1": "d1"}', "qrels.json: query 'q1': expected {doc_id: grade}"),
        ("qrels", '{"q1": {"move-in": "A"}}', "grade 'A' is not a number"),
        ("qrels", '{"q1": {"move-in": 0}}', "qrels.json: no query of queries.json has a relevant"),
    ],
)
def test_bad_files_are_named_with_what_is_wrong(
    files: dict[str, Path], name: str, content: str, message: str
) -> None:
    files[name].write_text(content)
    with pytest.raises(CommandError, match=message.replace("{", r"\{").replace("[", r"\[")):
        evaluate(files)


def test_a_missing_file_is_named(files: dict[str, Path], tmp_path: Path) -> None:
    files["queries"] = tmp_path / "nowhere.json"
    with pytest.raises(CommandError, match=r"nowhere\.json: no such file"):
        evaluate(files)


def test_k_must_be_positive(files: dict[str, Path]) -> None:
    with pytest.raises(CommandError, match="must be 1 or more"):
        evaluate(files, "--k", "0")


def test_the_action_is_required() -> None:
    with pytest.raises(CommandError):
        call_command("guide")
