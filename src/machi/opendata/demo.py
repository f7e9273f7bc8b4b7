"""The demo city's open data: the standard datasets made from the demo's records."""

from __future__ import annotations

from typing import Any


def load_demo_opendata(**_: Any) -> str:
    from machi.opendata import services

    outcomes = services.refresh(force=True)
    refused = [o for o in outcomes if not o.report.published]
    if refused:
        names = ", ".join(f"{o.resource.dataset.name}:{o.resource.key}" for o in refused)
        return f"opendata: not published (see /console/opendata/): {names}"
    return (
        f"opendata: {len(outcomes)} files made from the demo's records and checked; "
        "the catalogue is at /opendata/, the CKAN API at /api/3/action/package_search"
    )
