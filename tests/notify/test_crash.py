"""Given a worker killed with SIGKILL half-way through a broadcast, when it starts again, then
every subscriber holds exactly one message.

The real processes: ``machi run_huey`` as the worker, Machi's SMTP sink and the loopback push
service each in a process of its own, SQLite in a temporary data folder. This is the crash run
of ``bench/broadcast.py`` at a small size, with small batches so the kill lands mid-way.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SUBSCRIBERS = 3000


@pytest.mark.skipif(
    not (REPO / ".venv" / "bin" / "machi").exists(), reason="needs the project's .venv"
)
@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="runs on SQLite once, not again per database"
)
def test_a_worker_killed_half_way_leaves_every_subscriber_exactly_one_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MACHI_NOTIFY_BATCH", "100")  # many batches: the kill lands mid-way
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    sys.modules.pop("broadcast", None)
    import broadcast  # bench/broadcast.py

    code = broadcast.main(["--subscribers", str(SUBSCRIBERS), "--raw", "200"])
    result: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert code == 0, result.get("error")
    assert result["broadcast"]["delivered"] == SUBSCRIBERS
    crash = result["crash"]
    assert crash["crash"]["delivered_before"] < SUBSCRIBERS  # killed before the end
    assert crash["status"] == "sent"
    assert crash["delivered"] == SUBSCRIBERS
    assert crash["exactly_once"] == {
        "subscribers": SUBSCRIBERS,
        "with_one_message": SUBSCRIBERS,
        "with_none": 0,
        "with_more_than_one": 0,
        "raw_resends_recognised": crash["exactly_once"]["raw_resends_recognised"],
    }
