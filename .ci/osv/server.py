#!/usr/bin/env python3
"""A loopback OSV API that answers from the vendored advisory snapshot.

CI has no route to api.osv.dev, so `.ci/audit` starts this server on 127.0.0.1 and points
pip-audit's own OSV client at it (`-s osv --osv-url http://127.0.0.1:PORT/v1/query`): the same
client code that talks to osv.dev runs, against the same protocol, with no download at run time.

Endpoints (the subset of https://google.github.io/osv.dev/api/ that an audit needs):

* ``POST /v1/query``: ``{"package": {"name", "ecosystem"} | {"purl"}, "version"}`` gives
  ``{"vulns": [...]}`` with the full stored entries, or ``{}`` when nothing matches (as osv.dev
  does). Without a version, every advisory of the package is returned.
* ``POST /v1/querybatch``: ``{"queries": [...]}`` gives ``{"results": [{"vulns": [{"id",
  "modified"}]} | {}]}``.
* ``GET /v1/vulns/<id>``: one entry, looked up by id or alias.

Matching follows the OSV schema: an affected entry applies to the queried PyPI package (names
compared in PEP 503 normal form); a version is affected if it is listed in ``versions`` or falls
inside an ``ECOSYSTEM``/``SEMVER`` range (``introduced`` / ``fixed`` / ``last_affected`` events,
evaluated in version order with ``packaging.version``). ``GIT`` ranges cannot be evaluated
against a version number and are ignored. Withdrawn entries are never returned by queries.

Run: ``python .ci/osv/server.py [--snapshot FILE] [--port 0] [--port-file FILE]``. It binds
127.0.0.1 only, prints the chosen port on stdout, and with ``--port-file`` also writes it there.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

DEFAULT_SNAPSHOT = Path(__file__).resolve().with_name("advisories.json")
ECOSYSTEM = "PyPI"
MAX_BODY = 4 * 1024 * 1024

Vuln = dict[str, Any]


def canonical_name(name: str) -> str:
    """PEP 503 normal form, as pip-audit sends it and as the snapshot is keyed."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


def _in_versions(version: str, parsed: Version | None, listed: Iterable[str]) -> bool:
    for candidate in listed:
        if candidate == version:
            return True
        other = _parse(candidate)
        if parsed is not None and other is not None and other == parsed:
            return True
    return False


def _event_key(event: Mapping[str, str]) -> Version | None:
    for kind in ("introduced", "fixed", "last_affected"):
        if kind in event:
            value = event[kind]
            return Version("0") if value == "0" else _parse(value)
    return None  # "limit" (GIT only) or something unknown


def range_affects(events: Iterable[Mapping[str, str]], version: Version) -> bool:
    """The OSV schema's evaluation of one ECOSYSTEM/SEMVER range for one version.

    Events are sorted by their version ("0" first); walking them in order, ``introduced`` at or
    below the version opens an affected interval, ``fixed`` at or below it closes one, and
    ``last_affected`` strictly below it closes one.
    """
    keyed = [(key, event) for event in events if (key := _event_key(event)) is not None]
    keyed.sort(key=lambda pair: pair[0])
    affected = False
    for key, event in keyed:
        if "introduced" in event:
            if version >= key:
                affected = True
        elif "fixed" in event:
            if version >= key:
                affected = False
        elif "last_affected" in event and version > key:
            affected = False
    return affected


def affects(vuln: Mapping[str, Any], name: str, version: str) -> bool:
    """Whether an OSV entry affects version `version` of PyPI package `name`."""
    name = canonical_name(name)
    parsed = _parse(version)
    for affected in vuln.get("affected") or []:
        package = affected.get("package") or {}
        if package.get("ecosystem") != ECOSYSTEM:
            continue
        if canonical_name(str(package.get("name", ""))) != name:
            continue
        if _in_versions(version, parsed, affected.get("versions") or []):
            return True
        if parsed is None:
            continue
        for one_range in affected.get("ranges") or []:
            if one_range.get("type") not in ("ECOSYSTEM", "SEMVER"):
                continue
            if range_affects(one_range.get("events") or [], parsed):
                return True
    return False


class Snapshot:
    """The vendored advisories, keyed by normalised package name."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.meta: dict[str, Any] = {k: v for k, v in data.items() if k != "packages"}
        self.packages: dict[str, list[Vuln]] = {
            canonical_name(name): list(vulns) for name, vulns in data.get("packages", {}).items()
        }
        self.by_id: dict[str, Vuln] = {}
        for vulns in self.packages.values():
            for vuln in vulns:
                for key in (vuln["id"], *vuln.get("aliases", [])):
                    self.by_id.setdefault(key, vuln)

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def query(self, name: str, version: str | None) -> list[Vuln]:
        found = []
        for vuln in self.packages.get(canonical_name(name), []):
            if vuln.get("withdrawn"):
                continue
            if version is None or affects(vuln, name, version):
                found.append(vuln)
        return found


class QueryError(ValueError):
    pass


def _package_and_version(query: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """The PyPI (name, version) a query asks about, or None for another ecosystem/a commit."""
    if not isinstance(query, Mapping):
        raise QueryError("a query must be a JSON object")
    package = query.get("package")
    version = query.get("version")
    if "commit" in query and version is None:
        return None  # no git history in the snapshot: nothing can match a commit
    if not isinstance(package, Mapping):
        raise QueryError("a query needs a package")
    purl = package.get("purl")
    if purl:
        match = re.fullmatch(r"pkg:pypi/([^@?#]+)(?:@([^?#]+))?(?:[?#].*)?", str(purl))
        if match is None:
            return None
        if match.group(2) is not None and version is not None:
            raise QueryError("version given both in the purl and in the query")
        return match.group(1), match.group(2) or version
    if package.get("ecosystem") != ECOSYSTEM:
        return None
    name = package.get("name")
    if not isinstance(name, str) or not name:
        raise QueryError("a package needs a name")
    if version is not None and not isinstance(version, str):
        raise QueryError("version must be a string")
    return name, version


def answer_query(snapshot: Snapshot, query: Mapping[str, Any]) -> dict[str, Any]:
    target = _package_and_version(query)
    if target is None:
        return {}
    vulns = snapshot.query(*target)
    return {"vulns": vulns} if vulns else {}


def answer_batch(snapshot: Snapshot, body: Mapping[str, Any]) -> dict[str, Any]:
    queries = body.get("queries") if isinstance(body, Mapping) else None
    if not isinstance(queries, list):
        raise QueryError("querybatch needs a list of queries")
    results = []
    for query in queries:
        vulns = answer_query(snapshot, query).get("vulns", [])
        results.append(
            {"vulns": [{"id": v["id"], "modified": v.get("modified")} for v in vulns]}
            if vulns
            else {}
        )
    return {"results": results}


class Handler(BaseHTTPRequestHandler):
    server: OsvServer
    protocol_version = "HTTP/1.1"  # keep-alive: pip-audit sends one query per package
    # One buffered write per response and no Nagle delay: headers and body in separate small
    # segments would meet the client's delayed ACK and cost ~40 ms per query.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, {"code": 3, "message": "request too large"})
            return
        try:
            body = json.loads(self.rfile.read(length) or b"null")
            path = self.path.split("?", 1)[0]
            if path == "/v1/query":
                self._send(200, answer_query(self.server.snapshot, body))
            elif path == "/v1/querybatch":
                self._send(200, answer_batch(self.server.snapshot, body))
            else:
                self._send(404, {"code": 5, "message": "not found"})
        except (json.JSONDecodeError, QueryError) as error:
            self._send(400, {"code": 3, "message": str(error)})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/v1/vulns/"):
            vuln = self.server.snapshot.by_id.get(path.removeprefix("/v1/vulns/"))
            if vuln is not None:
                self._send(200, vuln)
                return
        self._send(404, {"code": 5, "message": "not found"})


class OsvServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, snapshot: Snapshot, port: int = 0, verbose: bool = False) -> None:
        self.snapshot = snapshot
        self.verbose = verbose
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/query"

    def start_in_thread(self) -> threading.Thread:
        """Serve in a daemon thread (for tests); stop with shutdown() and server_close()."""
        thread = threading.Thread(target=self.serve_forever, name="osv-server", daemon=True)
        thread.start()
        return thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, default=DEFAULT_SNAPSHOT)
    parser.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    parser.add_argument("--port-file", type=Path, help="also write the port to this file")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    server = OsvServer(Snapshot.load(args.snapshot), args.port, args.verbose)
    if args.port_file is not None:
        temporary = args.port_file.with_name(args.port_file.name + ".tmp")
        temporary.write_text(f"{server.port}\n", encoding="utf-8")
        temporary.replace(args.port_file)  # readers never see a half-written file
    print(server.port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
