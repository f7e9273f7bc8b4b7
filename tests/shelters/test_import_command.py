"""`machi shelters import PATH…` as an administrator types it."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import translation

from machi.core.models import Facility, Municipality
from machi.shelters.models import Shelter


@pytest.fixture(autouse=True)
def _english_messages() -> Iterator[None]:
    """The assertions read the English messages; the site itself defaults to Japanese."""
    with translation.override("en"):
        yield


DATA = Path(__file__).parent / "data"


def shelters(*args: str) -> tuple[int, str, str]:
    """Run the command; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("shelters", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def bad_latitude_on_line_7(tmp_path: Path) -> Path:
    rows = list(csv.reader(io.StringIO((DATA / "gsi_112241_shelters.csv").read_text("utf-8"))))
    rows[6][rows[0].index("緯度")] = "abc"
    path = tmp_path / "toda_shelters.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_import_prints_a_summary_per_file(municipality: Municipality) -> None:
    sites, shelters_file = DATA / "gsi_112241_sites.geojson", DATA / "gsi_112241_shelters.csv"
    code, out, err = shelters("import", str(sites), str(shelters_file))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"{sites}: ")
    assert ", GeoJSON, UTF-8: 5 rows; 5 created, 0 updated, 0 unchanged." in lines[0]
    assert ", CSV, UTF-8: 8 rows; 8 created, 0 updated, 0 unchanged." in lines[1]
    code, out, _ = shelters("import", str(sites))
    assert "5 rows; 0 created, 0 updated, 5 unchanged." in out


def test_a_bad_row_is_reported_as_path_row_column_and_exits_1(
    municipality: Municipality, tmp_path: Path
) -> None:
    path = bad_latitude_on_line_7(tmp_path)
    code, out, err = shelters("import", str(path))
    assert code == 1
    assert out == ""
    first, *rest = err.splitlines()
    assert first.startswith(f"{path}:7:緯度: ")
    assert "abc" in first
    assert rest == [f"{path}::: Nothing was imported from this file."]
    assert not Shelter.objects.exists()
    assert not Facility.objects.exists()


def test_each_file_is_all_or_nothing_on_its_own(municipality: Municipality, tmp_path: Path) -> None:
    bad = bad_latitude_on_line_7(tmp_path)
    good = DATA / "gsi_112241_sites.csv"
    code, out, err = shelters("import", str(bad), str(good))
    assert code == 1
    assert f"{bad}:7:緯度: " in err
    assert out.startswith(f"{good}: ")
    assert Shelter.objects.count() == 8


def test_a_wrong_municipality_names_row_and_column(municipality: Municipality) -> None:
    path = DATA / "dataset03_nanao_172022.csv"
    code, _, err = shelters("import", str(path))
    assert code == 1
    assert err.startswith(f"{path}:2:所在地_全国地方公共団体コード: This row is for 石川県七尾市")


def test_an_unknown_file_has_no_row(municipality: Municipality, tmp_path: Path) -> None:
    path = tmp_path / "aed.csv"
    path.write_text("種別,設置場所\nAED,市役所\n", encoding="utf-8")
    code, _, err = shelters("import", str(path))
    assert code == 1
    assert err.startswith(f"{path}::: This is not a shelter list Machi knows")


def test_a_missing_file(municipality: Municipality, tmp_path: Path) -> None:
    code, _, err = shelters("import", str(tmp_path / "nothing.csv"))
    assert code == 1
    assert err.startswith(f"{tmp_path / 'nothing.csv'}::: ")


def test_dry_run_saves_nothing(municipality: Municipality) -> None:
    code, out, _ = shelters("import", "--dry-run", str(DATA / "gsi_112241_shelters.geojson"))
    assert code == 0
    assert "5 created" in out
    assert "Dry run: nothing was saved." in out
    assert not Shelter.objects.exists()


def test_the_real_command_exits_1_on_a_bad_file(tmp_path: Path) -> None:
    """Through `python -m machi`, in a fresh installation: the exit code a script sees."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MACHI_", "DATABASE_"))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["MACHI_DATA_DIR"] = str(tmp_path / "data")

    def machi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "machi", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert machi("init", "--lgcode", "112241").returncode == 0
    good = machi("shelters", "import", str(DATA / "gsi_112241_sites.csv"))
    assert good.returncode == 0, good.stderr
    bad = machi("shelters", "import", str(bad_latitude_on_line_7(tmp_path)))
    assert bad.returncode == 1
    assert ":7:緯度: " in bad.stderr


@pytest.mark.parametrize("args", [(), ("import",)])
def test_usage_errors(args: tuple[str, ...], db: None) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("shelters", *args)
