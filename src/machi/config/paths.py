"""Where an installation keeps its files.

Every ``machi`` command run from a checkout must find the same SQLite database as the running
demo, whatever the working directory, so the default data folder is ``var/`` at the top of the
checkout. An installed (non-editable) package falls back to ``./var``. ``MACHI_DATA_DIR`` wins.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def checkout_root() -> Path | None:
    """The repository root when Machi runs from a source checkout (``src/`` layout)."""
    candidate = PACKAGE_DIR.parent.parent
    if PACKAGE_DIR.parent.name == "src" and (candidate / "pyproject.toml").is_file():
        return candidate
    return None


def data_dir() -> Path:
    configured = os.environ.get("MACHI_DATA_DIR")
    if configured:
        path = Path(configured).expanduser().resolve()
    else:
        root = checkout_root()
        path = (root / "var") if root else Path.cwd() / "var"
    path.mkdir(parents=True, exist_ok=True)
    return path
