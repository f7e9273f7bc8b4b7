"""Staff accounts: sessions end when idle and after a shift, passwords follow the rules, no
page carries inline script, secrets come from the environment (OWASP ASVS 2, 3, 14)."""

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, override_settings

from machi.core import services
from machi.core.middleware import SEEN_AT, SIGNED_IN_AT
from machi.core.models import AuditEvent, User
from machi.core.roles import Action, Role
from tests.conftest import PASSWORD, sign_in

SRC = Path(__file__).resolve().parents[2] / "src" / "machi"


def _age_session(client: Client, **seconds_ago: float) -> None:
    session = client.session
    now = time.time()
    for key, ago in seconds_ago.items():
        session[{"signed_in": SIGNED_IN_AT, "seen": SEEN_AT}[key]] = now - ago
    session.save()


def test_a_signed_in_session_records_when_it_started(client: Client, hq: User) -> None:
    sign_in(client, hq)
    session = client.session
    assert time.time() - session[SIGNED_IN_AT] < 60
    assert client.get("/console/").status_code == 200


@override_settings(MACHI_SESSION_IDLE_MINUTES=30)
def test_an_idle_session_ends_and_says_why(client: Client, hq: User) -> None:
    sign_in(client, hq)
    _age_session(client, signed_in=31 * 60, seen=31 * 60)
    response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")
    page = client.get(response["Location"]).content.decode()
    assert "30" in page  # the message names the idle time
    event = AuditEvent.objects.filter(action=Action.LOGOUT).latest("id")
    assert event.detail == {"reason": "idle"}
    # The API refuses the ended session too.
    assert client.get("/api/v1/me").status_code == 401


@override_settings(MACHI_SESSION_IDLE_MINUTES=30)
def test_an_active_session_stays_and_its_last_seen_moves(client: Client, hq: User) -> None:
    sign_in(client, hq)
    _age_session(client, signed_in=60 * 60, seen=29 * 60)
    assert client.get("/console/").status_code == 200
    assert time.time() - client.session[SEEN_AT] < 60


def test_a_session_ends_after_a_shift_however_active(client: Client, hq: User) -> None:
    sign_in(client, hq)
    _age_session(client, signed_in=8 * 60 * 60 + 1, seen=10)
    response = client.get("/console/")
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=Action.LOGOUT).latest("id").detail == {
        "reason": "expired"
    }


@override_settings(MACHI_SESSION_IDLE_MINUTES=0)
def test_idle_expiry_can_be_switched_off_but_the_shift_limit_stays(
    client: Client, hq: User
) -> None:
    sign_in(client, hq)
    _age_session(client, signed_in=7 * 60 * 60, seen=7 * 60 * 60)
    assert client.get("/console/").status_code == 200
    _age_session(client, signed_in=9 * 60 * 60)
    assert client.get("/console/").status_code == 302


def test_a_locked_account_refuses_even_the_right_password_and_keeps_the_lock(
    client: Client, hq: User
) -> None:
    other = Client(REMOTE_ADDR="192.0.2.99")
    with override_settings(LOGIN_RATE_LIMIT=3):
        for _ in range(3):
            client.post("/console/login/", {"username": "hq", "password": "wrong"})
        # From another address the account is still locked: the limit is per account too.
        response = other.post("/console/login/", {"username": "HQ", "password": "x" * 12})
        assert response.status_code == 429
        response = client.post("/console/login/", {"username": "hq", "password": PASSWORD})
        assert response.status_code == 429
    locked = AuditEvent.objects.filter(action=Action.LOGIN_FAILED, detail__reason="locked")
    assert locked.count() == 2


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short-pass", "too short"),
        ("123456789012345", "numeric"),
        ("password1234", "common"),
        ("kobayashi-taro", "like the user name"),
    ],
)
def test_weak_passwords_are_refused(db: None, password: str, why: str) -> None:
    with pytest.raises(ValidationError):
        services.staff_create(username="kobayashi-taro", password=password, roles=[Role.COUNTER])
    assert not User.objects.filter(username="kobayashi-taro").exists(), why


def test_a_good_password_is_accepted(db: None) -> None:
    user = services.staff_create(
        username="suzuki", password="correct-horse-battery-staple", roles=[Role.COUNTER]
    )
    assert user.check_password("correct-horse-battery-staple")


# --- Content-Security-Policy: no template may need 'unsafe-inline' ---------------------------

INLINE = [
    (re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/(?:ld\+)?json\"))", re.I), "script"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
    (re.compile(r"<style\b", re.I), "style element"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
]

COMMENT = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.S)


def test_no_template_carries_inline_script_or_style() -> None:
    """Every page works under script-src 'self' and style-src 'self' without exceptions."""
    found = []
    templates = sorted(SRC.glob("*/templates/**/*.html")) + sorted(
        SRC.glob("*/*/templates/**/*.html")
    )
    assert len(templates) > 100
    for path in templates:
        text = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text("utf-8"))
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(SRC)}:{line}: {what}")
    assert found == []


def test_the_policy_forbids_inline_and_framing(client: Client, db: None) -> None:
    csp = client.get("/").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp


# --- Secrets come from the environment ------------------------------------------------------

SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|PRIVATE|API_KEY|CREDENTIAL)", re.I)


def _settings_assignments() -> list[tuple[str, ast.expr]]:
    tree = ast.parse((SRC / "config" / "settings.py").read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Name)
                    and SECRET_NAME.search(target.id)
                    and target.id != "AUTH_PASSWORD_VALIDATORS"
                ):
                    found.append((target.id, node.value))
    return found


def _only_demo_literals(value: ast.expr) -> bool:
    """True if every non-empty string literal in the expression is a demo-only default."""
    for node in ast.walk(value):
        if isinstance(node, ast.IfExp):
            # "x if DEMO else ''": the literal applies to the demo only.
            test = ast.unparse(node.test)
            if "DEMO" in test and isinstance(node.orelse, ast.Constant) and not node.orelse.value:
                return True
    literals = [
        n.value
        for n in ast.walk(value)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value
    ]
    # Names of environment variables and of settings are not secrets.
    return all(re.fullmatch(r"[A-Z0-9_]+|[a-z_.]+", text) for text in literals)


def test_no_secret_setting_has_a_value_written_in_the_code() -> None:
    assignments = _settings_assignments()
    assert {"SECRET_KEY", "EMAIL_HOST_PASSWORD"} <= {name for name, _ in assignments}
    offenders = [name for name, value in assignments if not _only_demo_literals(value)]
    assert offenders == []


def test_the_secret_key_comes_from_the_environment_or_a_private_file(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from machi.config.settings import _secret_key

    monkeypatch.setenv("MACHI_SECRET_KEY", "k" * 60)
    assert _secret_key(tmp_path) == "k" * 60
    monkeypatch.delenv("MACHI_SECRET_KEY")
    key = _secret_key(tmp_path)
    assert len(key) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by its owner only
    assert _secret_key(tmp_path) == key


def test_the_deployment_check_is_clean_in_production(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MACHI_", "DATABASE_", "REDIS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="machi.config.settings",
        MACHI_DATA_DIR=str(tmp_path),
        MACHI_SECRET_KEY="s" * 20 + "-production-secret-key-from-the-environment-0123",
    )
    result = subprocess.run(
        [sys.executable, "-m", "machi", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_over_https_the_session_cookie_is_bound_to_the_host(tmp_path: Path) -> None:
    code = (
        "import django; from django.conf import settings; django.setup();"
        "print(settings.SESSION_COOKIE_NAME)"
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MACHI_", "DATABASE_", "REDIS_"))
    }
    env.update(DJANGO_SETTINGS_MODULE="machi.config.settings", MACHI_DATA_DIR=str(tmp_path))
    names = []
    for extra in ({}, {"MACHI_DEMO": "1"}):
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True
        )
        names.append(result.stdout.strip())
    assert names == ["__Host-sessionid", "sessionid"]


@override_settings(SESSION_COOKIE_NAME="__Host-sessionid")
def test_the_api_takes_the_host_bound_session_cookie(client: Client, hq: User) -> None:
    client.force_login(hq)
    assert "__Host-sessionid" in client.cookies
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["username"] == "hq"
