"""The shared base of the loopback fakes: a small fake is served from a thread, on a free port,
and gone again once stopped."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from aiohttp import web

from machi.core.loopback import LoopbackServer, serve_forever


class Echo(LoopbackServer):
    """The smallest fake: it answers who it is and counts the times it was asked."""

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.asked = 0
        self.stopped_in_loop = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._hello)
        return app

    async def _hello(self, request: web.Request) -> web.Response:
        with self._lock:
            self.asked += 1
        return web.Response(text="echo")

    async def on_stop(self) -> None:
        self.stopped_in_loop = True


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return str(response.read().decode())


def refused(url: str) -> bool:
    try:
        fetch(url)
    except (urllib.error.URLError, ConnectionError):
        return True
    return False


def test_start_takes_a_free_port_and_serves_until_stopped() -> None:
    server = Echo()
    assert server.port == 0

    assert server.start() is server
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert fetch(server.url) == "echo"
    assert server.asked == 1

    server.stop()
    assert server.stopped_in_loop
    assert refused(server.url)


def test_two_servers_get_two_ports() -> None:
    with Echo() as one, Echo() as two:
        assert one.port != two.port
        assert fetch(one.url) == fetch(two.url) == "echo"


def test_the_context_manager_stops_it_even_when_the_test_fails() -> None:
    server = Echo()

    def failing_test() -> None:
        with server:
            assert fetch(server.url) == "echo"
            raise AssertionError("the test failed")

    with pytest.raises(AssertionError, match="the test failed"):
        failing_test()
    assert refused(server.url)


def test_stop_is_idempotent_and_the_server_can_start_again() -> None:
    server = Echo()
    server.stop()  # never started: nothing to do
    server.start()
    port = server.port
    server.stop()
    server.stop()

    with server:  # again, on the port it had
        assert server.port == port
        assert fetch(server.url) == "echo"
    assert server.asked == 1


def test_starting_twice_is_refused() -> None:
    with Echo() as server, pytest.raises(RuntimeError, match="already started"):
        server.start()


def test_a_taken_port_is_reported_to_the_caller() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = Echo(port=taken.getsockname()[1])
        with pytest.raises(OSError, match="in use"):
            server.start()
    server.stop()  # nothing was started


def test_serve_forever_runs_until_sigterm(capsys: pytest.CaptureFixture[str]) -> None:
    server = Echo()
    before = signal.getsignal(signal.SIGTERM)
    seen: list[str] = []

    def ask_then_terminate() -> None:
        try:
            deadline = time.monotonic() + 5
            while server._loop is None and time.monotonic() < deadline:
                time.sleep(0.01)
            seen.append(fetch(server.url))
        finally:  # whatever happened, serve_forever must return
            os.kill(os.getpid(), signal.SIGTERM)

    asker = threading.Thread(target=ask_then_terminate)
    asker.start()
    assert serve_forever(server, "Echo fake on") == 0
    asker.join(5)

    assert seen == ["echo"]
    assert capsys.readouterr().out == f"Echo fake on {server.url}\n"
    assert refused(server.url)
    assert signal.getsignal(signal.SIGTERM) == before
