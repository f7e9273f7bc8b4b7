"""The knowledge base as CSV: import (UTF-8, BOM, CP932; all or nothing) and export."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from machi.guide import faq
from machi.guide.models import Entry, Revision

HEADER = "全国地方公共団体コード,ID,質問,回答,カテゴリ,所管部署,関連URL,更新日,言語,モード\n"
ROWS = (
    "112241,juminhyo-1,住民票の写しはどこで取れますか,市民課の窓口か、マイナンバーカードで"
    "コンビニ交付を利用できます。,戸籍・住民票,市民課,https://www.city.example.lg.jp/juminhyo,"
    "2026-04-01,ja,normal\n"
    "112241,hinan-1,避難所はどこですか,開いている避難所は市のサイトの避難所一覧で確認できます。,"
    "防災,危機管理課,,2026/09/01,ja,disaster\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_a_csv_in_any_of_the_three_encodings_imports(db: Any, encoding: str) -> None:
    result = faq.import_csv((HEADER + ROWS).encode(encoding))
    assert result.errors == []
    assert (result.created, result.updated) == (2, 0)
    shelter = Entry.objects.get(key="hinan-1")
    assert shelter.mode == "disaster"
    assert shelter.updated_on.isoformat() == "2026-09-01"
    assert Revision.objects.filter(entry=shelter, source="import").count() == 1


def test_a_second_import_updates_changed_rows_and_keeps_history(db: Any) -> None:
    faq.import_csv((HEADER + ROWS).encode())
    changed = ROWS.replace("確認できます。", "確認できます。市の公式LINEでもお知らせします。")
    result = faq.import_csv((HEADER + changed).encode())
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert Entry.objects.get(key="hinan-1").revisions.count() == 2


def test_problems_name_line_and_column_and_nothing_is_saved(db: Any) -> None:
    bad = (
        HEADER
        + ROWS
        + "112241,,質問だけ,,,,,,ja,normal\n"
        + "112241,x-1,質問,回答,,,not a url,2026-13-01,fr,sometimes\n"
        + "112241,juminhyo-1,重複,回答,,,,,ja,normal\n"
    )
    result = faq.import_csv(bad.encode())
    assert "line 4, column ID: required" in result.errors
    assert "line 4, column 回答: required" in result.errors
    assert any(e.startswith("line 5, column 更新日") for e in result.errors)
    assert any(e.startswith("line 5, column 言語") for e in result.errors)
    assert any(e.startswith("line 5, column モード") for e in result.errors)
    assert any(e.startswith("line 5, column 関連URL") for e in result.errors)
    assert any(e.startswith("line 6, column ID") and "line 2" in e for e in result.errors)
    assert not Entry.objects.exists()


def test_a_file_without_the_needed_columns_is_refused(db: Any) -> None:
    result = faq.import_csv("ID,質問\nA,B\n".encode())
    assert result.errors == ["line 1: missing column(s): 回答"]


def test_export_opens_in_excel_and_imports_back(db: Any) -> None:
    faq.import_csv((HEADER + ROWS).encode())
    data = faq.export_csv(lgcode="112241")
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == list(faq.COLUMNS)
    assert len(rows) == 3
    Entry.objects.all().delete()
    assert faq.import_csv(data).created == 2


def test_the_commands_import_export_and_index(db: Any, tmp_path: Any) -> None:
    from django.core.management import CommandError, call_command

    from machi.guide import services

    source = tmp_path / "faq.csv"
    source.write_bytes((HEADER + ROWS).encode("cp932"))
    out = io.StringIO()
    services.forget_index()
    call_command("guide", "import", str(source), stdout=out)
    assert "2 added" in out.getvalue()
    assert "search index: 2 entries" in out.getvalue()
    target = tmp_path / "out.csv"
    call_command("guide", "export", str(target))
    assert "避難所はどこですか" in target.read_bytes().decode("utf-8-sig")
    bad = tmp_path / "bad.csv"
    bad.write_bytes((HEADER + ROWS.replace("2026-04-01", "april")).encode())
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("guide", "import", str(bad), stderr=io.StringIO())
    services.forget_index()
