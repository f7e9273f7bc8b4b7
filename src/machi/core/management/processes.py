"""Start and stop the web server and the worker as child processes (for ``machi demo``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping


def gunicorn_args(*, bind: str, workers: int, reload: bool = False) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "machi.config.wsgi",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--no-control-socket",  # otherwise gunicorn writes ~/.gunicorn/
        "--access-logfile",
        "-",
        "--graceful-timeout",
        "5",
    ]
    if reload:
        args.append("--reload")
    return args


def machi_args() -> list[str]:
    return [sys.executable, "-m", "machi"]


def worker_args(*, workers: int) -> list[str]:
    return [*machi_args(), "run_huey", "--workers", str(workers), "--quiet"]


def supervise(
    commands: Mapping[str, list[str]],
    *,
    env: Mapping[str, str],
    oneshot: frozenset[str] = frozenset(),
) -> int:
    """Run the commands side by side until Ctrl-C, or until one of them stops.

    Commands named in ``oneshot`` (a scenario replay) may finish without stopping the rest.

    Ctrl-C reaches every process of the terminal's group; we also forward SIGINT and SIGTERM
    so that a ``kill`` of this process stops its children too. Returns an exit code.
    """
    children = {
        name: subprocess.Popen(cmd, env={**os.environ, **env})  # noqa: S603
        for name, cmd in commands.items()
    }
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        while not stopping:
            for name, child in list(children.items()):
                if child.poll() is not None and name in oneshot:
                    print(f"{name} finished (exit {child.returncode}).")
                    del children[name]
                    continue
                if child.poll() is not None:
                    print(f"{name} stopped (exit {child.returncode}); stopping the rest.")
                    code = child.returncode or 1
                    stopping = True
                    break
            time.sleep(0.2)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
