"""The staff console's menu: rooms add their pages here (from AppConfig.ready), core shows
the entries the signed-in person may use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.functional import Promise

from machi.core import access
from machi.core.roles import Action


@dataclass(frozen=True)
class NavEntry:
    url_name: str
    label: str | Promise
    resource: str  # shown to those who may READ this resource
    order: int


_ENTRIES: list[NavEntry] = []


def register(url_name: str, label: str | Promise, *, resource: str, order: int = 50) -> None:
    if any(entry.url_name == url_name for entry in _ENTRIES):
        return
    _ENTRIES.append(NavEntry(url_name, label, resource, order))
    _ENTRIES.sort(key=lambda entry: entry.order)


def entries_for(user: Any) -> list[dict[str, Any]]:
    return [
        {
            "url": reverse(e.url_name),
            "label": e.label,
            "url_name": e.url_name.split(":")[-1],
            "view_name": e.url_name,  # with its namespace: index pages share url_name "index"
        }
        for e in _ENTRIES
        if access.may(user, Action.READ, e.resource)
    ]


@dataclass(frozen=True)
class PortalEntry:
    url_name: str
    title: str | Promise
    description: str | Promise
    order: int


_PORTAL: list[PortalEntry] = []


def register_portal(
    url_name: str, title: str | Promise, description: str | Promise, *, order: int = 50
) -> None:
    """A service card on the residents' home page."""
    if any(entry.url_name == url_name for entry in _PORTAL):
        return
    _PORTAL.append(PortalEntry(url_name, title, description, order))
    _PORTAL.sort(key=lambda entry: entry.order)


def portal_entries() -> list[dict[str, Any]]:
    return [
        {"url": reverse(e.url_name), "title": e.title, "description": e.description}
        for e in _PORTAL
    ]
