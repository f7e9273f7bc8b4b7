#!/usr/bin/env python3
"""Rebuild .ci/osv/advisories.json from local clones of the PyPA advisory database.

Needs the network only to clone; run it on a machine that has it, with the project's venv (it
reads the installed distributions and uses PyYAML from there):

    git clone --depth 1 https://github.com/pypa/advisory-database /tmp/pypa-db
    git clone --depth 1 https://github.com/westonsteimel/advisory-database-pypa /tmp/pypa-mirror
    .venv/bin/python .ci/osv/refresh.py /tmp/pypa-db /tmp/pypa-mirror
    .ci/audit

Each argument is a clone (or its vulns/ directory). For every distribution installed in the
running interpreter's environment, except the project itself, the package's folder is read in
each clone; entries naming the same vulnerability (same id or a shared alias, e.g. an entry renamed
from PYSEC-0000-CVE-... to its final PYSEC id, or a GHSA import) are kept once, preferring the
final id and then the latest `modified`. Only what pip-audit and the loopback server read is kept:
id, aliases, summary, details (shortened), published, modified, withdrawn, and the PyPI affected
ranges (`versions` lists only where no ECOSYSTEM/SEMVER range exists). Both the PyPA layout and
the mirror's protobuf-style dump (numeric range types, empty event fields, seconds/nanos
timestamps) are understood.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().with_name("advisories.json")
PROJECT = "machi"
DETAILS_MAX = 600
RANGE_TYPES = {0: "UNSPECIFIED", 1: "GIT", 2: "SEMVER", 3: "ECOSYSTEM"}
EVENT_KINDS = {"introduced": "introduced", "fixed": "fixed", "last_affected": "last_affected"}
EVENT_KINDS["lastaffected"] = "last_affected"  # the mirror's protobuf-style spelling

Vuln = dict[str, Any]


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def timestamp(value: Any) -> str | None:
    """RFC 3339 in UTC from a string, a datetime (unquoted YAML) or {seconds, nanos}."""
    if value in (None, ""):
        return None
    if isinstance(value, Mapping):
        seconds = int(value.get("seconds") or 0)
        nanos = int(value.get("nanos") or 0)
        value = dt.datetime.fromtimestamp(seconds, dt.UTC)
        value += dt.timedelta(microseconds=nanos // 1000)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ"
        return str(value.strftime(pattern))
    return str(value)


def _events(raw: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    events = []
    for event in raw:
        for key, value in event.items():
            kind = EVENT_KINDS.get(key)
            if kind is not None and value not in (None, ""):
                events.append({kind: str(value)})
    return events


def _affected(raw: Mapping[str, Any], package: str) -> dict[str, Any] | None:
    info = raw.get("package") or {}
    if info.get("ecosystem") != "PyPI" or canonical_name(str(info.get("name", ""))) != package:
        return None
    ranges = []
    for one_range in raw.get("ranges") or []:
        kind = one_range.get("type")
        kind = RANGE_TYPES.get(kind, str(kind)) if isinstance(kind, int) else str(kind)
        if kind not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges need the repository history, not a version number
        events = _events(one_range.get("events") or [])
        if events:
            ranges.append({"type": kind, "events": events})
    entry: dict[str, Any] = {
        "package": {"ecosystem": "PyPI", "name": package, "purl": f"pkg:pypi/{package}"}
    }
    if ranges:
        entry["ranges"] = ranges
    elif raw.get("versions"):
        entry["versions"] = [str(v) for v in raw["versions"]]
    else:
        return None
    return entry


def normalise(raw: Mapping[str, Any], package: str) -> Vuln | None:
    """The fields pip-audit reads, for one package; None if nothing in it can match a version."""
    affected = [a for r in raw.get("affected") or [] if (a := _affected(r, package)) is not None]
    if not raw.get("id") or not affected:
        return None
    vuln: Vuln = {"id": str(raw["id"])}
    aliases = [str(a) for a in raw.get("aliases") or []]
    if aliases:
        vuln["aliases"] = aliases
    if raw.get("summary"):
        vuln["summary"] = str(raw["summary"]).strip()
    details = str(raw.get("details") or "").strip()
    if details:
        vuln["details"] = details if len(details) <= DETAILS_MAX else details[:DETAILS_MAX] + "…"
    for key in ("published", "modified", "withdrawn"):
        value = timestamp(raw.get(key))
        if value is not None:
            vuln[key] = value
    vuln.setdefault("modified", vuln.get("published", "1970-01-01T00:00:00Z"))
    vuln["affected"] = affected
    return vuln


def _preference(vuln: Vuln) -> tuple[bool, str]:
    # A PYSEC-0000-... file is an entry waiting for its final id (or a GHSA import): prefer the
    # final one, then the most recently modified.
    return (not vuln["id"].startswith("PYSEC-0000-"), vuln.get("modified", ""))


def merge(vulns: Iterable[Vuln]) -> list[Vuln]:
    """One entry per vulnerability: entries sharing an id or an alias are the same one."""
    groups: list[tuple[set[str], list[Vuln]]] = []
    for vuln in vulns:
        keys = {vuln["id"], *vuln.get("aliases", [])}
        joined = [g for g in groups if g[0] & keys]
        for group in joined:
            groups.remove(group)
            keys |= group[0]
        groups.append((keys, [v for g in joined for v in g[1]] + [vuln]))
    merged = []
    for keys, members in groups:
        best: Vuln = max(members, key=_preference)
        chosen = dict(best)
        aliases = sorted(k for k in keys if k != chosen["id"] and not k.startswith("PYSEC-0000-"))
        if aliases:
            chosen["aliases"] = aliases
        merged.append(chosen)
    return sorted(merged, key=lambda v: v["id"])


def _vulns_root(path: Path) -> Path:
    return path / "vulns" if (path / "vulns").is_dir() else path


def _commit(path: Path) -> str | None:
    """The checked-out commit of a git clone, read without running git."""
    git = path / ".git"
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        if (git / ref).is_file():
            return (git / ref).read_text(encoding="utf-8").strip()
        for line in (git / "packed-refs").read_text(encoding="utf-8").splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return None


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    import yaml  # PyYAML, in the dev environment; only needed to refresh

    return yaml.safe_load(text)


def build(sources: list[Path], installed: Mapping[str, str]) -> dict[str, Any]:
    """The snapshot for `installed` (normalised name -> distribution name) from the clones."""
    folders: list[dict[str, list[Path]]] = []
    for source in sources:
        index: dict[str, list[Path]] = {}
        root = _vulns_root(source)
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            index.setdefault(canonical_name(folder.name), []).append(folder)
        folders.append(index)

    packages: dict[str, list[Vuln]] = {}
    coverage: dict[str, dict[str, Any]] = {}
    for package in sorted(installed):
        found: list[Vuln] = []
        per_source: dict[str, int] = {}
        for source, index in zip(sources, folders, strict=True):
            files = [
                f
                for folder in index.get(package, [])
                for f in sorted(folder.iterdir())
                if f.suffix in (".yaml", ".yml", ".json")
            ]
            if files:
                per_source[str(source)] = len(files)
            for file in files:
                raw = _read(file)
                vuln = normalise(raw, package) if isinstance(raw, Mapping) else None
                if vuln is not None:
                    found.append(vuln)
        packages[package] = merge(found)
        if per_source:
            coverage[package] = {
                "files": sum(per_source.values()),
                "per_source": per_source,
                "transcribed": len(packages[package]),
            }

    modified = [v["modified"] for vulns in packages.values() for v in vulns]
    return {
        "format": "machi-osv-snapshot/1",
        "taken": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        "newest_modified": max(modified, default=None),
        "sources": [
            {"path": str(_vulns_root(s)), "commit": _commit(s), "licence": "CC-BY-4.0"}
            for s in sources
        ],
        "credit": (
            "Advisory data from the Python Packaging Authority's advisory database "
            "(https://github.com/pypa/advisory-database), licensed CC-BY 4.0; entries are "
            "shortened (details cut down, version enumerations and references dropped)."
        ),
        "how": "Built by .ci/osv/refresh.py from the clones listed in 'sources'.",
        "coverage": coverage,
        "packages": packages,
    }


def installed_distributions(exclude: str = PROJECT) -> dict[str, str]:
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical_name(name) != canonical_name(exclude):
            found[canonical_name(name)] = name
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clones", nargs="+", type=Path, help="advisory-database clone(s)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    for clone in args.clones:
        if not _vulns_root(clone).is_dir():
            parser.error(f"{clone}: not a directory")
    data = build(args.clones, installed_distributions())
    args.output.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    count = sum(len(v) for v in data["packages"].values())
    print(f"{args.output}: {count} advisories for {len(data['packages'])} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
