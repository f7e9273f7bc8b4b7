"""The shared base of Machi's loopback fakes of outside services (LINE, a Web Push service, a
card payment gateway, an OpenID provider).

Each fake is an aiohttp application on ``127.0.0.1``. Tests serve it from a background thread
with its own event loop (``with Fake(...) as fake:``); the demo and the benchmark run it as a
process (``python -m ...``), whose ``main`` ends in :func:`serve_forever`.

No Django here: a fake stands for a service outside Machi and must not lean on Machi's code.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from typing import ClassVar, Self

from aiohttp import web


class LoopbackServer:
    """An aiohttp application served on ``host:port`` from a thread of its own.

    A subclass gives its routes in :meth:`app`. ``port=0`` takes a free port: it is known,
    and held, once :meth:`start` returns. Handlers run in the server's loop while tests read
    from theirs: what both touch is guarded by ``_lock``.
    """

    thread_name: ClassVar[str] = "loopback-server"
    # How long requests still in flight at stop() may take to finish.
    shutdown_timeout: ClassVar[float] = 1.0
    # How long stop() waits for the thread.
    stop_timeout: ClassVar[float] = 10.0
    backlog: ClassVar[int] = 128

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self) -> web.Application:
        """The application to serve (built in the server's loop, on each start)."""
        raise NotImplementedError

    async def on_stop(self) -> None:
        """Runs in the server's loop once it is told to stop, before the application closes."""

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve in a background thread; returns once the port is listening."""
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        sock = self._bind()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._open(sock))
            except BaseException as exc:  # handed to start()'s caller
                failure.append(exc)
                loop.close()
                ready.set()
                return
            self._loop = loop
            ready.set()
            try:
                loop.run_forever()
                loop.run_until_complete(self._close())
            finally:
                loop.close()

        thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread = thread
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            self._thread = None
            sock.close()
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread; stopping what is not running does nothing."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self.stop_timeout)
        self._thread = None
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _bind(self) -> socket.socket:
        # Bound here, before the thread: the port (and so the URL) is known on return.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return sock

    async def _open(self, sock: socket.socket) -> None:
        # No access log: at benchmark rates it would cost more than the handlers.
        self._runner = web.AppRunner(
            self.app(), access_log=None, shutdown_timeout=self.shutdown_timeout
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock, backlog=self.backlog).start()

    async def _close(self) -> None:
        await self.on_stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def serve_forever(server: LoopbackServer, announce: str) -> int:
    """Serve until SIGINT or SIGTERM: how a fake's ``main`` runs it as a process.

    Once listening, prints ``announce`` and the server's URL on one line (the URL last: a
    parent process can read it from there). Returns the exit status, 0.
    """
    stopping = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.getsignal(signum) for signum in signals]
    for signum in signals:
        signal.signal(signum, lambda *_: stopping.set())
    try:
        server.start()
        print(f"{announce} {server.url}", flush=True)
        stopping.wait()
    finally:
        server.stop()
        for signum, handler in zip(signals, previous, strict=True):
            if handler is not None:
                signal.signal(signum, handler)
    return 0
