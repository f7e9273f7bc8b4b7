"""The loopback OSV API behind `.ci/audit` (.ci/osv/server.py) and its refresh script.

Range evaluation is checked against the OSV schema's rules; one end-to-end test runs pip-audit's
own OsvService against the server, as `.ci/audit` does. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.version import Version

OSV_DIR = Path(__file__).resolve().parents[2] / ".ci" / "osv"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"ci_osv_{name}", OSV_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and typing look modules up by name
    spec.loader.exec_module(module)
    return module


osv = _load("server")
refresh = _load("refresh")


def vuln(
    vid: str,
    *ranges: list[dict[str, str]],
    package: str = "fakepkg",
    versions: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    affected: dict[str, Any] = {
        "package": {"ecosystem": "PyPI", "name": package},
        "ranges": [{"type": "ECOSYSTEM", "events": events} for events in ranges],
    }
    if versions is not None:
        affected["versions"] = versions
    return {"id": vid, "modified": "2026-01-01T00:00:00Z", "affected": [affected], **extra}


def affected_versions(entry: dict[str, Any], *candidates: str) -> list[str]:
    return [v for v in candidates if osv.affects(entry, "fakepkg", v)]


# --- range evaluation -------------------------------------------------------------------------


def test_introduced_and_fixed() -> None:
    entry = vuln("A", [{"introduced": "0"}, {"fixed": "1.2"}])
    assert affected_versions(entry, "0.1", "1.0", "1.1.9", "1.2rc1", "1.2", "1.2.1", "2.0") == [
        "0.1",
        "1.0",
        "1.1.9",
        "1.2rc1",  # a pre-release of the fix still predates it
    ]


def test_several_intervals_in_one_range_whatever_their_order() -> None:
    events = [{"fixed": "2.3"}, {"introduced": "2.0"}, {"fixed": "1.5"}, {"introduced": "1.0"}]
    entry = vuln("A", events)
    assert affected_versions(entry, "0.9", "1.0", "1.4", "1.5", "1.9", "2.0", "2.2.9", "2.3") == [
        "1.0",
        "1.4",
        "2.0",
        "2.2.9",
    ]


def test_last_affected_is_inclusive() -> None:
    entry = vuln("A", [{"introduced": "1.0"}, {"last_affected": "1.4"}])
    assert affected_versions(entry, "0.9", "1.0", "1.4", "1.4.0", "1.4.1", "1.5") == [
        "1.0",
        "1.4",
        "1.4.0",
    ]


def test_no_fix_yet_affects_everything_from_introduced() -> None:
    entry = vuln("A", [{"introduced": "3.0"}])
    assert affected_versions(entry, "2.9", "3.0", "99.0") == ["3.0", "99.0"]


def test_versions_are_compared_as_versions_not_strings() -> None:
    entry = vuln("A", [{"introduced": "0"}, {"fixed": "3.10"}])
    assert affected_versions(entry, "3.9", "3.10", "3.2") == ["3.9", "3.2"]


def test_explicit_versions_list() -> None:
    entry = vuln("A", versions=["1.0", "1.1", "not-a-version"])
    assert affected_versions(entry, "1.0", "1.0.0", "1.1", "1.2", "not-a-version") == [
        "1.0",
        "1.0.0",  # PEP 440: the same release as 1.0
        "1.1",
        "not-a-version",
    ]


def test_git_ranges_cannot_match_a_version() -> None:
    entry = vuln("A")
    entry["affected"][0]["ranges"] = [
        {"type": "GIT", "repo": "https://example.org/x", "events": [{"introduced": "0"}]}
    ]
    assert affected_versions(entry, "1.0") == []


def test_other_packages_and_ecosystems_do_not_match() -> None:
    entry = vuln("A", [{"introduced": "0"}], package="otherpkg")
    npm = vuln("B", [{"introduced": "0"}])
    npm["affected"][0]["package"]["ecosystem"] = "npm"
    assert not osv.affects(entry, "fakepkg", "1.0")
    assert not osv.affects(npm, "fakepkg", "1.0")


def test_package_names_are_compared_in_normal_form() -> None:
    entry = vuln("A", [{"introduced": "0"}], package="Fake_Pkg.Name")
    assert osv.affects(entry, "fake-pkg-name", "1.0")
    assert osv.affects(entry, "FAKE.pkg_name", "1.0")


def test_an_unparsable_version_only_matches_the_versions_list() -> None:
    entry = vuln("A", [{"introduced": "0"}])
    assert not osv.affects(entry, "fakepkg", "not a version")


# --- queries ----------------------------------------------------------------------------------


@pytest.fixture
def snapshot() -> Any:
    return osv.Snapshot(
        {
            "taken": "2026-11-27",
            "packages": {
                "fakepkg": [
                    vuln(
                        "PYSEC-0000-1",
                        [{"introduced": "0"}, {"fixed": "1.0.1"}],
                        aliases=["CVE-0000-1", "GHSA-aaaa-bbbb-cccc"],
                        summary="fakepkg 1.0.0 and earlier are broken",
                    ),
                    vuln(
                        "PYSEC-0000-2",
                        [{"introduced": "0"}],
                        withdrawn="2026-02-01T00:00:00Z",
                        summary="withdrawn: never real",
                    ),
                ],
                "Clean_Pkg": [],
            },
        }
    )


def test_query_returns_the_matching_advisories(snapshot: Any) -> None:
    query = {"package": {"name": "fakepkg", "ecosystem": "PyPI"}, "version": "1.0.0"}
    answer = osv.answer_query(snapshot, query)
    assert [v["id"] for v in answer["vulns"]] == ["PYSEC-0000-1"]


def test_withdrawn_advisories_are_never_returned(snapshot: Any) -> None:
    answer = osv.answer_query(snapshot, {"package": {"name": "fakepkg", "ecosystem": "PyPI"}})
    assert [v["id"] for v in answer["vulns"]] == ["PYSEC-0000-1"]  # no version: all, less withdrawn
    fixed = {"package": {"name": "fakepkg", "ecosystem": "PyPI"}, "version": "1.0.1"}
    assert osv.answer_query(snapshot, fixed) == {}


def test_a_package_without_advisories_gets_an_empty_object(snapshot: Any) -> None:
    for name in ("clean-pkg", "never-heard-of-it"):
        query = {"package": {"name": name, "ecosystem": "PyPI"}, "version": "1.0"}
        assert osv.answer_query(snapshot, query) == {}


def test_other_ecosystems_and_commits_get_nothing(snapshot: Any) -> None:
    assert osv.answer_query(snapshot, {"package": {"name": "fakepkg", "ecosystem": "npm"}}) == {}
    assert osv.answer_query(snapshot, {"commit": "0" * 40}) == {}


def test_purl_queries(snapshot: Any) -> None:
    answer = osv.answer_query(snapshot, {"package": {"purl": "pkg:pypi/fakepkg@0.9"}})
    assert [v["id"] for v in answer["vulns"]] == ["PYSEC-0000-1"]
    assert osv.answer_query(snapshot, {"package": {"purl": "pkg:npm/fakepkg@0.9"}}) == {}


def test_querybatch(snapshot: Any) -> None:
    body = {
        "queries": [
            {"package": {"name": "fakepkg", "ecosystem": "PyPI"}, "version": "1.0.0"},
            {"package": {"name": "fakepkg", "ecosystem": "PyPI"}, "version": "2.0"},
        ]
    }
    assert osv.answer_batch(snapshot, body) == {
        "results": [{"vulns": [{"id": "PYSEC-0000-1", "modified": "2026-01-01T00:00:00Z"}]}, {}]
    }


@pytest.mark.parametrize(
    "query",
    [
        [],
        {"version": "1.0"},
        {"package": {"ecosystem": "PyPI"}, "version": "1.0"},
        {"package": {"name": "fakepkg", "ecosystem": "PyPI"}, "version": 1},
    ],
)
def test_malformed_queries_are_rejected(snapshot: Any, query: Any) -> None:
    with pytest.raises(osv.QueryError):
        osv.answer_query(snapshot, query)


# --- over HTTP, and pip-audit's own client ----------------------------------------------------


@pytest.fixture
def server(snapshot: Any) -> Iterator[Any]:
    running = osv.OsvServer(snapshot)
    running.start_in_thread()
    try:
        yield running
    finally:
        running.shutdown()
        running.server_close()


def post(server: Any, path: str, body: bytes) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_http_endpoints(server: Any) -> None:
    assert server.server_address[0] == "127.0.0.1"
    query = {"package": {"name": "fakepkg", "ecosystem": "PyPI"}, "version": "0.1"}
    status, body = post(server, "/v1/query", json.dumps(query).encode())
    assert status == 200
    assert body["vulns"][0]["aliases"] == ["CVE-0000-1", "GHSA-aaaa-bbbb-cccc"]
    assert post(server, "/v1/query", b"{not json")[0] == 400
    assert post(server, "/v1/query", b'{"version": "1"}')[0] == 400
    assert post(server, "/v1/elsewhere", b"{}")[0] == 404


def test_pip_audit_osv_service_against_the_server(server: Any, tmp_path: Path) -> None:
    from pip_audit._service import OsvService, ResolvedDependency

    service = OsvService(cache_dir=tmp_path, timeout=5, osv_url=server.query_url)

    _, found = service.query(ResolvedDependency(name="fakepkg", version=Version("1.0.0")))
    assert len(found) == 1
    assert found[0].id == "PYSEC-0000-1"
    assert found[0].aliases == {"CVE-0000-1", "GHSA-aaaa-bbbb-cccc"}
    assert found[0].fix_versions == [Version("1.0.1")]
    assert found[0].description == "fakepkg 1.0.0 and earlier are broken"

    _, found = service.query(ResolvedDependency(name="fakepkg", version=Version("1.0.1")))
    assert found == []
    _, found = service.query(ResolvedDependency(name="clean-pkg", version=Version("1.0")))
    assert found == []


# --- the vendored snapshot and its refresh script ---------------------------------------------


def test_the_vendored_snapshot_is_well_formed() -> None:
    data = json.loads((OSV_DIR / "advisories.json").read_text(encoding="utf-8"))
    assert data["taken"]
    assert "CC-BY" in data["credit"]
    for name, entries in data["packages"].items():
        assert name == osv.canonical_name(name)
        for entry in entries:
            assert entry["id"]
            assert entry["modified"]
            assert entry.get("summary") or entry.get("details")
            for affected in entry["affected"]:
                assert affected["package"]["ecosystem"] == "PyPI"
                assert osv.canonical_name(affected["package"]["name"]) == name
                assert affected.get("ranges") or affected.get("versions")
                for one_range in affected.get("ranges", []):
                    assert one_range["type"] in ("ECOSYSTEM", "SEMVER")
                    for event in one_range["events"]:
                        (value,) = event.values()
                        Version(value)
    osv.Snapshot(data)  # and the server accepts it


def test_refresh_merges_both_layouts_by_alias(tmp_path: Path) -> None:
    """The PyPA layout and the mirror's protobuf-style dump (numeric range types, empty event
    fields, seconds/nanos timestamps) both load; a renamed entry is kept once, by its final id."""
    first = tmp_path / "pypa" / "vulns" / "fakepkg"
    first.mkdir(parents=True)
    (first / "PYSEC-0000-CVE-2026-1.yaml").write_text(
        "id: PYSEC-0000-CVE-2026-1\n"
        "modified: '2026-03-01T00:00:00Z'\n"
        "aliases: [CVE-2026-1]\n"
        "details: old text\n"
        "affected:\n"
        "- package: {ecosystem: PyPI, name: FakePkg}\n"
        "  ranges:\n"
        "  - type: GIT\n"
        "    repo: https://example.org/fakepkg\n"
        "    events: [{introduced: '0'}, {fixed: abc123}]\n"
        "  - type: ECOSYSTEM\n"
        "    events: [{introduced: '0'}, {fixed: '2.0'}]\n"
        "  versions: ['1.0', '1.5']\n",
        encoding="utf-8",
    )
    second = tmp_path / "mirror" / "vulns" / "fakepkg"
    second.mkdir(parents=True)
    (second / "PYSEC-2026-7.yaml").write_text(
        "id: PYSEC-2026-7\n"
        "published: {seconds: 1772323200, nanos: 0}\n"
        "modified: {seconds: 1775001600, nanos: 500000000}\n"
        "withdrawn: null\n"
        "aliases: [CVE-2026-1, GHSA-xxxx-yyyy-zzzz]\n"
        "summary: ''\n"
        "details: new text\n"
        "affected:\n"
        "- package: {ecosystem: PyPI, name: fakepkg}\n"
        "  ranges:\n"
        "  - type: 3\n"
        "    repo: ''\n"
        "    events:\n"
        "    - {introduced: '0', fixed: '', limit: '', lastaffected: ''}\n"
        "    - {introduced: '', fixed: '', limit: '', lastaffected: '1.9'}\n"
        "  versions: []\n",
        encoding="utf-8",
    )
    data = refresh.build(
        [tmp_path / "pypa", tmp_path / "mirror"], {"fakepkg": "FakePkg", "other": "other"}
    )
    assert data["packages"]["other"] == []
    (entry,) = data["packages"]["fakepkg"]
    assert entry["id"] == "PYSEC-2026-7"
    assert set(entry["aliases"]) == {"CVE-2026-1", "GHSA-xxxx-yyyy-zzzz"}
    assert entry["modified"] == "2026-04-01T00:00:00.500000Z"
    assert "withdrawn" not in entry
    assert entry["affected"][0]["ranges"] == [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": "1.9"}]}
    ]
    assert data["coverage"]["fakepkg"]["files"] == 2
    snapshot = osv.Snapshot(data)
    assert [v["id"] for v in snapshot.query("fakepkg", "1.9")] == ["PYSEC-2026-7"]
    assert snapshot.query("fakepkg", "1.9.1") == []
