"""The `machi` command as an administrator types it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from machi.core import services
from machi.core.demo import DEMO_STAFF, load_demo_city
from machi.core.models import AuditEvent, Facility, Municipality, User
from machi.core.roles import Role


def machi(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MACHI_", "DATABASE_"))}
    env["MACHI_DATA_DIR"] = str(data_dir)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "machi", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_lgcode_check_prints_each_code_and_fails_on_any_invalid(tmp_path: Path) -> None:
    result = machi("lgcode", "check", "112241", "92011", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "112241\tvalid\t112241\t埼玉県戸田市",
        "92011\tvalid\t092011\t栃木県宇都宮市",
    ]
    result = machi("lgcode", "check", "131130", "112242", data_dir=tmp_path)
    assert result.returncode == 1
    assert "112242\tinvalid\t112242: check digit should be 1, not 2" in result.stdout


def test_init_then_token_in_a_fresh_installation(tmp_path: Path) -> None:
    """Another terminal administers the same installation: same data folder, same database."""
    result = machi("init", "--lgcode", "131130", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "東京都渋谷区 (131130)" in result.stdout
    assert (tmp_path / "machi.sqlite3").exists()
    secret_key = tmp_path / "secret_key"
    assert secret_key.stat().st_mode & 0o777 == 0o600
    result = machi("token", "create", "nobody", data_dir=tmp_path)
    assert result.returncode != 0
    assert "no user named 'nobody'" in result.stderr


def test_init_refuses_an_invalid_code_or_a_second_city(db: None) -> None:
    with pytest.raises(CommandError, match="check digit"):
        call_command("init", lgcode="112242")
    call_command("init", lgcode="112241")
    assert Municipality.objects.get().name == "戸田市"
    with pytest.raises(CommandError, match="already serves"):
        call_command("init", lgcode="131130")


def test_token_create_prints_the_token_alone_on_the_last_line(
    hq: User, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("token", "create", "hq", "--name", "script")
    out = capsys.readouterr().out
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("machi_")
    assert services.token_authenticate(secret) == hq


def test_demo_city_loads_toda_and_is_idempotent(db: None) -> None:
    city = load_demo_city()
    assert str(city.municipality) == "埼玉県戸田市 (112241)"
    shelters = Facility.objects.filter(is_shelter=True).count()
    assert shelters == 34
    assert Facility.objects.filter(is_evacuation_site=True).count() >= 50
    assert Facility.objects.filter(is_office=True).get().name == "戸田市役所"
    assert Facility.objects.exclude(latitude=None).count() == Facility.objects.count()
    events = AuditEvent.objects.count()
    counts = (Facility.objects.count(), User.objects.count())
    load_demo_city()
    assert (Facility.objects.count(), User.objects.count()) == counts
    assert AuditEvent.objects.count() == events  # nothing changed, nothing logged
    assert {u.username for u in city.staff} == {entry[0] for entry in DEMO_STAFF}
    shelter = User.objects.get(username="shelter")
    assignment = shelter.role_assignments.get()
    assert assignment.role == Role.SHELTER_STAFF
    assert assignment.facilities.count() == 2


def test_demo_areas_come_from_addresses(db: None) -> None:
    load_demo_city()
    names = set(Facility.objects.exclude(area=None).values_list("area__name", flat=True))
    assert {"上戸田", "下戸田", "新曽", "美女木"} <= names


def test_migrations_match_the_models(db: None) -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_a_one_shot_process_may_finish_without_stopping_the_server() -> None:
    import time

    from machi.core.management import processes

    started = time.monotonic()
    code = processes.supervise(
        {
            "web": [sys.executable, "-c", "import time; time.sleep(1.5)"],
            "scenario": [sys.executable, "-c", "pass"],
        },
        env={},
        oneshot=frozenset({"scenario"}),
    )
    # The scenario ends at once; supervision goes on until the "web" process stops.
    assert time.monotonic() - started >= 1.4
    assert code == 1
