"""A real FreeRADIUS 3 for the tests, configured in a temporary folder.

It authorizes, post-authenticates and accounts through ``rlm_rest`` against the portal's
endpoints on the live test server (``/wifi/radius/...``), listens on 127.0.0.1 on free UDP
ports, and knows one client, 127.0.0.1, with a generated secret. The configuration is small and
written here, apart from the local ``dictionary`` copied from /etc/freeradius/3.0 (the
standard dictionaries come from /usr/share/freeradius). Skipped, with the reason, when
FreeRADIUS or its rest module is not installed (Debian: ``freeradius freeradius-rest
freeradius-utils``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SYSTEM_CONFIG = Path("/etc/freeradius/3.0")
MODULE_DIRS = [Path("/usr/lib/freeradius"), Path("/usr/lib/x86_64-linux-gnu/freeradius")]
READY = "Ready to process requests"


def freeradius_binary() -> str | None:
    for name in ("freeradius", "radiusd"):
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
        if found:
            return found
    return None


def _libdir() -> Path | None:
    for folder in MODULE_DIRS:
        if (folder / "rlm_rest.so").exists():
            return folder
    return None


def missing_reason() -> str | None:
    """Why FreeRADIUS cannot run here, or None."""
    if freeradius_binary() is None:
        return "FreeRADIUS is not installed (apt-get install freeradius freeradius-rest)"
    if _libdir() is None:
        return "FreeRADIUS's rest module is not installed (apt-get install freeradius-rest)"
    if shutil.which("radclient") is None:
        return "radclient is not installed (apt-get install freeradius-utils)"
    return None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SECRET_HEADER = """\
        update control {
            &REST-HTTP-Header += "X-Machi-Radius-Secret: %(api_secret)s"
        }"""

RADIUSD_CONF = """\
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = %(folder)s
sbindir = /usr/sbin
logdir = %(folder)s/log
raddbdir = %(folder)s
radacctdir = %(folder)s/radacct
name = freeradius
confdir = %(folder)s
modconfdir = %(folder)s/mods-config
certdir = %(folder)s/certs
cadir = %(folder)s/certs
run_dir = %(folder)s/run
db_dir = %(folder)s
libdir = %(libdir)s
pidfile = %(folder)s/run/freeradius.pid
max_request_time = 10
cleanup_delay = 1
max_requests = 1024
hostname_lookups = no

log {
    destination = files
    file = %(folder)s/log/radius.log
    colourise = no
    stripped_names = no
    auth = yes
    auth_badpass = no
    auth_goodpass = no
}

security {
    allow_core_dumps = no
    max_attributes = 200
    reject_delay = 0
    status_server = yes
    # Only for this throw-away test server: Debian's OpenSSL may be flagged by version.
    allow_vulnerable_openssl = yes
}

thread pool {
    start_servers = 2
    max_servers = 4
    min_spare_servers = 1
    max_spare_servers = 2
    max_requests_per_server = 0
}

client loopback {
    ipaddr = 127.0.0.1
    secret = %(radius_secret)s
    require_message_authenticator = no
    nas_type = other
}

modules {
    always ok {
        rcode = ok
    }
    pap {
        normalise = yes
    }
    rest {
        connect_uri = "%(base_url)s"
        connect_timeout = 4.0
        authorize {
            uri = "${..connect_uri}/wifi/radius/authorize"
            method = "post"
            body = "json"
            timeout = 5.0
        }
        post-auth {
            uri = "${..connect_uri}/wifi/radius/post-auth"
            method = "post"
            body = "json"
            timeout = 5.0
        }
        accounting {
            uri = "${..connect_uri}/wifi/radius/accounting"
            method = "post"
            body = "json"
            timeout = 5.0
        }
        pool {
            start = 0
            min = 0
            max = 4
            spare = 1
            uses = 0
            retry_delay = 1
            lifetime = 0
            idle_timeout = 30
        }
    }
}

server default {
    listen {
        type = auth
        ipaddr = 127.0.0.1
        port = %(auth_port)d
    }
    listen {
        type = acct
        ipaddr = 127.0.0.1
        port = %(acct_port)d
    }
    authorize {
%(secret_header)s
        rest
        if (ok || updated) {
            pap
        }
    }
    authenticate {
        Auth-Type PAP {
            pap
        }
    }
    preacct {
    }
    accounting {
%(secret_header)s
        rest
    }
    post-auth {
%(secret_header)s
        rest
        Post-Auth-Type REJECT {
            ok
        }
    }
}
"""


@dataclass
class FreeRadius:
    """A running FreeRADIUS (``freeradius -X``): its ports, secret and debug log."""

    base_url: str
    api_secret: str
    radius_secret: str = field(default_factory=lambda: secrets.token_hex(12))
    auth_port: int = 0
    acct_port: int = 0
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="machi-radius-")))
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    def write_config(self) -> None:
        libdir = _libdir()
        assert libdir is not None
        for sub in ("log", "run", "radacct", "mods-config", "certs"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        local_dictionary = SYSTEM_CONFIG / "dictionary"
        if local_dictionary.exists() and os.access(local_dictionary, os.R_OK):
            shutil.copy(local_dictionary, self.folder / "dictionary")
        else:
            (self.folder / "dictionary").write_text("")
        values: dict[str, Any] = {
            "folder": self.folder,
            "libdir": libdir,
            "base_url": self.base_url.rstrip("/"),
            "radius_secret": self.radius_secret,
            "auth_port": self.auth_port,
            "acct_port": self.acct_port,
            "api_secret": self.api_secret,
        }
        values["secret_header"] = SECRET_HEADER % values
        (self.folder / "radiusd.conf").write_text(RADIUSD_CONF % values)

    def start(self, timeout: float = 20.0) -> FreeRadius:
        binary = freeradius_binary()
        assert binary is not None
        self.auth_port = self.auth_port or free_udp_port()
        self.acct_port = self.acct_port or free_udp_port()
        self.write_config()
        # -X: debug, one thread, in the foreground, logging to stdout; -d: our folder only.
        self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [binary, "-X", "-d", str(self.folder), "-n", "radiusd"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()

        def read() -> None:
            assert self.process is not None
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line.rstrip("\n"))
                if READY in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.is_set():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FreeRADIUS did not start:\n" + self.log_tail())
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.output[-lines:])

    # --- radclient -----------------------------------------------------------------------------

    def send(self, attributes: dict[str, str | int], *, kind: str = "auth") -> RadiusAnswer:
        """Send one packet with radclient; ``kind`` is "auth" or "acct"."""
        port = self.auth_port if kind == "auth" else self.acct_port
        lines = ", ".join(
            f'{name} = "{value}"' if isinstance(value, str) else f"{name} = {value}"
            for name, value in attributes.items()
        )
        result = subprocess.run(  # noqa: S603
            [
                shutil.which("radclient") or "radclient",
                "-x",
                "-r",
                "1",
                "-t",
                "8",
                f"127.0.0.1:{port}",
                kind,
                self.radius_secret,
            ],
            input=lines + "\n",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return RadiusAnswer.parse(result.stdout + result.stderr)


@dataclass(frozen=True)
class RadiusAnswer:
    code: str  # "Access-Accept", "Access-Reject", "Accounting-Response", "" (no answer)
    attributes: dict[str, str]
    raw: str

    @classmethod
    def parse(cls, text: str) -> RadiusAnswer:
        code = ""
        attributes: dict[str, str] = {}
        receiving = False
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("Received "):
                code = stripped.split()[1]
                receiving = True
                continue
            if stripped.startswith("Sent "):
                receiving = False
                continue
            if receiving and " = " in stripped:
                name, _, value = stripped.partition(" = ")
                attributes[name.strip()] = value.strip().strip('"')
        return cls(code=code, attributes=attributes, raw=text)


@pytest.fixture
def freeradius(live_server: Any, settings: Any) -> Iterator[FreeRadius]:
    """FreeRADIUS calling the live server's rlm_rest endpoints (with a fresh API secret)."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    api_secret = secrets.token_hex(16)
    settings.MACHI_WIFI_RADIUS_SECRET = api_secret
    settings.MACHI_WIFI_RADIUS_CLIENTS = "127.0.0.1"
    radius = FreeRadius(base_url=live_server.url, api_secret=api_secret).start()
    try:
        yield radius
    finally:
        radius.stop()
