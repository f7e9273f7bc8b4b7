"""XML from outside (JMA feeds, CAP alerts from other authorities), parsed defensively.

Every document is hostile until proved otherwise. ``parse`` refuses it before building a tree
when it is larger than the limit, and ``defusedxml`` refuses any DTD, entity declaration or
external reference (billion laughs, XXE). Only then is it parsed with lxml, whose parser is
hardened as well (no entities resolved, no network, no DTD loaded, no huge trees), to give the
caller XPath and schema validation. A document that fails any step raises ``XmlRejected``
with a reason a person can read and, where the parser knows it, the line.

Schemas are compiled once per path (``schema``) from files shipped with the package, with a
resolver that refuses anything outside the schema's own folder, so validating can never reach
the network either.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type hints

# A JMA message is a few to a few hundred kilobytes; a CAP alert rarely more than 100 kB.
DEFAULT_MAX_BYTES = 2 * 1024 * 1024


class XmlRejected(ValueError):
    """The document is not accepted: too large, unsafe, malformed or invalid."""

    def __init__(self, reason: str, *, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"{reason} (line {line})" if line else reason)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse(data: bytes | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """The root element (lxml) of a document from outside, or XmlRejected."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise XmlRejected(f"document too large: {len(data):,} bytes (limit {max_bytes:,})")
    if not data.strip():
        raise XmlRejected("empty document")
    try:
        DefusedET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlRejected(f"unsafe XML refused: {type(exc).__name__}") from exc
    except DefusedET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise XmlRejected(f"malformed XML: {exc}", line=line) from exc
    try:
        return etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"malformed XML: {exc.msg}", line=exc.lineno) from exc


class _LocalOnly(etree.Resolver):
    """Let a schema include or import files of its own folder, and nothing else."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder.resolve()

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        name = system_url.rsplit("/", 1)[-1]
        candidate = (self.folder / name).resolve()
        if candidate.parent == self.folder and candidate.is_file():
            return self.resolve_filename(str(candidate), context)
        raise XmlRejected(f"schema refers to {system_url!r}, outside its folder")


@functools.cache
def schema(path: str) -> etree.XMLSchema:
    """A compiled XML Schema shipped with the package (compiled once per process)."""
    file = Path(path)
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_LocalOnly(file.parent))
    document = etree.parse(str(file), parser=parser)
    return etree.XMLSchema(document)


def validate(root: Any, schema_path: str | Path) -> None:
    """XmlRejected with the first error (and its line) unless ``root`` is valid."""
    compiled = schema(str(schema_path))
    if compiled.validate(root):
        return
    error = compiled.error_log.last_error
    name = Path(schema_path).name
    raise XmlRejected(f"not valid against {name}: {error.message}", line=error.line)


def text(root: Any, path: str, namespaces: dict[str, str]) -> str:
    """The stripped text of the first match of an XPath, or an empty string."""
    found = root.find(path, namespaces)
    return (found.text or "").strip() if found is not None else ""
