"""The Wi-Fi room's kinds of long action (core jobs). Imported by ``WifiConfig.ready()`` so
that the worker knows them, and by ``disaster_mode`` before it starts one."""

from __future__ import annotations

from typing import Any

from machi.core import jobs

DISASTER_MODE = "wifi.disaster_mode"


@jobs.register(DISASTER_MODE)
def disaster_mode(run: jobs.JobRun, **params: Any) -> dict[str, Any]:
    """Switch the job's APs to 00000JAPAN or back, confirming each by read-back."""
    from machi.wifi.disaster_mode import disaster_mode_run

    return disaster_mode_run(run, **params)
