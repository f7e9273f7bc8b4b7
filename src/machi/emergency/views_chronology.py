"""The chronology pages (クロノロジー): HQ's timeline of a disaster, typed entries, prints.

Every line is shown in Asia/Tokyo time, newest first. The list part refreshes itself every
10 seconds with htmx on the first page; without JavaScript the page works the same, and
"Refresh" (the filter button) brings it up to date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from machi.core import access
from machi.core import selectors as core_selectors
from machi.core import services as core_services
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.emergency import exports_chronology, selectors_chronology, services
from machi.emergency.forms_chronology import (
    NO_DISASTER,
    ChronologyEntryForm,
    ChronologyFilterForm,
)
from machi.emergency.models import ChronologyEntry, ChronologyKind, Disaster

RESOURCE = "emergency.chronologyentry"
REFRESH_SECONDS = 10
# A print is made while the person waits: 5,000 lines take about 2 s of CPU (~240 pages).
# Beyond this many the filters should narrow it; the CSV has no limit.
PRINT_LIMIT = 20_000


# --- What the filters chose -------------------------------------------------------------------


@dataclass
class Shown:
    form: ChronologyFilterForm
    filters: selectors_chronology.ChronologyFilter
    query: str  # the filters as a query string, without the page: for links and the refresh


def _shown(request: HttpRequest) -> Shown:
    data: QueryDict = request.GET.copy()
    data.pop("page", None)
    disasters = list(selectors_chronology.disasters_to_choose())
    if not data.get("disaster"):
        # Pinned in the links from here on: a second declaration does not move the page.
        default = selectors_chronology.disaster_default()
        data["disaster"] = str(default.pk) if default is not None else NO_DISASTER
    form = ChronologyFilterForm(data, disasters=disasters)
    form.is_valid()
    cleaned = form.cleaned_data  # only the fields that are valid: the others filter nothing
    choice = cleaned.get("disaster")
    if choice is None:  # not a disaster of this city: show the default, say why
        fallback = selectors_chronology.disaster_default()
        choice = str(fallback.pk) if fallback is not None else NO_DISASTER
        data["disaster"] = choice
    by_id = {str(d.pk): d for d in disasters}
    disaster = None if choice == NO_DISASTER else by_id.get(choice)
    filters = selectors_chronology.ChronologyFilter(
        disaster=disaster,
        kinds=tuple(cleaned.get("kind") or ()),
        important=True if cleaned.get("important") else None,
        q=cleaned.get("q") or "",
        since=cleaned.get("since"),
        until=cleaned.get("until"),
    )
    query = QueryDict(mutable=True)
    query["disaster"] = str(choice)  # first, for addresses that read well
    for key in data:
        if key != "disaster":
            query.setlist(key, data.getlist(key))
    return Shown(form=form, filters=filters, query=query.urlencode())


def _describe(filters: selectors_chronology.ChronologyFilter) -> str:
    """The filters in words, for the heading of a print."""
    parts: list[str] = []
    if filters.kinds:
        labels = "・".join(exports_chronology.kind_label(k) for k in filters.kinds)
        parts.append(_("Kinds: %(kinds)s") % {"kinds": labels})
    if filters.important:
        parts.append(_("Important entries only"))
    if filters.q:
        parts.append(_("Words: %(words)s") % {"words": filters.q})
    if filters.since or filters.until:
        since = f"{timezone.localtime(filters.since):%Y-%m-%d %H:%M}" if filters.since else ""
        until = f"{timezone.localtime(filters.until):%Y-%m-%d %H:%M}" if filters.until else ""
        parts.append(f"{since} – {until}")
    return " / ".join(parts)


# --- Links from a line to the record it is about ----------------------------------------------


@dataclass(frozen=True)
class LinkRule:
    resource: str  # the person must be allowed to read this to be offered the link
    names: tuple[str, ...]  # URL names to try, in order
    path: str | None  # the address the page will have, checked against the URLconf
    label: Any
    with_id: bool = True
    with_disaster: bool = False


# Incidents, tasks and 避難情報 pages are being built beside this one: a line links to them
# once their URLs exist, and shows no link until then.
LINKS: dict[str, LinkRule] = {
    "emergency.disaster": LinkRule(
        "emergency.disaster",
        ("emergency:disaster",),
        "/console/disasters/{id}/",
        gettext_lazy("See the disaster"),
    ),
    "emergency.incident": LinkRule(
        "emergency.incident",
        ("field:incident", "field:incident_detail", "emergency:incident"),
        "/console/incidents/{id}/",
        gettext_lazy("See the incident"),
    ),
    "emergency.task": LinkRule(
        "emergency.task",
        ("field:task", "field:task_detail", "emergency:task"),
        "/console/tasks/{id}/",
        gettext_lazy("See the task"),
    ),
    "emergency.evacuationorder": LinkRule(
        "emergency.evacuationorder",
        ("evacuation:index", "evacuation:orders", "emergency:evacuation"),
        "/console/evacuation/",
        gettext_lazy("See the evacuation information"),
        with_id=False,
    ),
    "shelters.opening": LinkRule(
        "shelters.dashboard",
        ("shelters:dashboard",),
        None,
        gettext_lazy("See the shelter dashboard"),
        with_id=False,
        with_disaster=True,
    ),
}


def _address(rule: LinkRule, object_id: str) -> str | None:
    args = [object_id] if rule.with_id else None
    for name in rule.names:
        try:
            return reverse(name, args=args)
        except NoReverseMatch:
            continue
    if rule.path is None:
        return None
    path = rule.path.format(id=object_id)
    try:
        resolve(path)
    except Resolver404:
        return None
    return path


@dataclass
class Linker:
    """Links for one person and one request (each address is worked out once)."""

    user: Any
    _allowed: dict[str, bool] = field(default_factory=dict)
    _addresses: dict[tuple[str, str], str | None] = field(default_factory=dict)

    def link(self, entry: ChronologyEntry) -> tuple[str, str] | None:
        rule = LINKS.get(entry.object_type)
        if rule is None or not entry.object_id:
            return None
        if rule.resource not in self._allowed:
            self._allowed[rule.resource] = access.may(self.user, Action.READ, rule.resource)
        if not self._allowed[rule.resource]:
            return None
        key = (entry.object_type, entry.object_id if rule.with_id else "")
        if key not in self._addresses:
            self._addresses[key] = _address(rule, entry.object_id)
        url = self._addresses[key]
        if url is None:
            return None
        if rule.with_disaster and entry.disaster_id is not None:
            url = f"{url}?disaster={entry.disaster_id}"
        return url, str(rule.label)


@dataclass(frozen=True)
class Line:
    entry: ChronologyEntry
    show_date: bool  # the first line, and each line whose day differs from the one above
    kind_label: str
    link: tuple[str, str] | None


def _lines(entries: list[ChronologyEntry], user: Any) -> list[Line]:
    linker = Linker(user)
    lines: list[Line] = []
    previous = None
    for entry in entries:
        day = timezone.localtime(entry.at).date()
        lines.append(
            Line(
                entry=entry,
                show_date=day != previous,
                kind_label=exports_chronology.kind_label(entry.kind),
                link=linker.link(entry),
            )
        )
        previous = day
    return lines


def _page(request: HttpRequest, shown: Shown) -> tuple[Page[ChronologyEntry], list[Line]]:
    entries = selectors_chronology.chronology_search(request.user, shown.filters)
    paginator = Paginator(entries, selectors_chronology.PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return page, _lines(list(page.object_list), request.user)


def _list_context(request: HttpRequest, shown: Shown) -> dict[str, Any]:
    page, lines = _page(request, shown)
    return {
        "page": page,
        "lines": lines,
        "query": shown.query,
        "now": timezone.localtime(),
        "live": page.number == 1,
        "refresh_seconds": REFRESH_SECONDS,
    }


# --- Pages ------------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def timeline(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.READ, ChronologyEntry)
    shown = _shown(request)
    disaster = shown.filters.disaster
    current = selectors_chronology.disaster_default()
    may_write = access.may(request.user, Action.CREATE, ChronologyEntry)
    # A line typed on the 平常時 page while a disaster is active would go to the disaster
    # (the service's default): offer the form only where the line will be seen.
    writes_here = disaster is not None or current is None
    entry_form = ChronologyEntryForm(
        initial={"department": selectors_chronology.department_of(request.user)}
    )
    if request.method == "POST":
        access.require(request.user, Action.CREATE, ChronologyEntry)
        entry_form = ChronologyEntryForm(request.POST)
        if not writes_here:
            entry_form.add_error(None, _("Add entries on the current disaster's chronology."))
        elif entry_form.is_valid():
            try:
                services.chronology_record(
                    kind=ChronologyKind.NOTE,
                    text=entry_form.cleaned_data["text"],
                    disaster=disaster,
                    important=entry_form.cleaned_data["important"],
                    department=entry_form.cleaned_data["department"],
                )
            except services.DisasterError:
                entry_form.add_error("text", _("Write what happened."))
            else:
                messages.success(request, _("Added to the chronology."))
                return redirect(f"{reverse('chronology:timeline')}?{shown.query}")
    context = {
        **_list_context(request, shown),
        "form": shown.form,
        "filters": shown.filters,
        "disaster": disaster,
        "current": current,
        "entry_form": entry_form,
        "may_write": may_write,
        "writes_here": writes_here,
        "may_export": access.may(request.user, Action.EXPORT, ChronologyEntry),
        "departments": selectors_chronology.department_names(),
        "filtering": bool(
            shown.filters.kinds
            or shown.filters.important
            or shown.filters.q
            or shown.filters.since
            or shown.filters.until
            or shown.form.errors
        ),
    }
    failed = bool(entry_form.errors) or bool(shown.form.errors)
    return render(
        request, "emergency/chronology/timeline.html", context, status=400 if failed else 200
    )


@staff_required
@require_GET
@never_cache
def entries(request: HttpRequest) -> HttpResponse:
    """The list part alone: what htmx fetches every 10 seconds."""
    access.require(request.user, Action.READ, ChronologyEntry)
    shown = _shown(request)
    return render(request, "emergency/chronology/_list.html", _list_context(request, shown))


# --- Exports (HQ) -----------------------------------------------------------------------------


def _export(
    request: HttpRequest, kind: str, *, limit: int | None = None
) -> tuple[Shown, list[ChronologyEntry]] | HttpResponseBase:
    access.require(request.user, Action.EXPORT, ChronologyEntry)
    shown = _shown(request)
    if shown.form.errors:  # print exactly what was asked for, or nothing
        return timeline(request)
    selected = selectors_chronology.chronology_in_time_order(request.user, shown.filters)
    if limit is not None and selected.count() > limit:
        messages.error(
            request,
            _("More than %(limit)s entries: narrow the filters (kinds, time) to print.")
            % {"limit": f"{limit:,}"},
        )
        return redirect(f"{reverse('chronology:timeline')}?{shown.query}")
    found = list(selected)
    core_services.audit_record(
        action=Action.EXPORT,
        object_type=RESOURCE,
        detail={"format": kind, "rows": len(found), "filters": shown.filters.describe()},
    )
    return shown, found


def _filename(disaster: Disaster | None, extension: str) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    which = f"disaster{disaster.pk}" if disaster is not None else "normal"
    return f"chronology-{which}-{stamp}.{extension}"


@staff_required
@require_GET
def print_pdf(request: HttpRequest) -> HttpResponseBase:
    result = _export(request, "pdf", limit=PRINT_LIMIT)
    if isinstance(result, HttpResponseBase):
        return result
    shown, found = result
    municipality = core_selectors.municipality_current()
    disaster = shown.filters.disaster
    heading = exports_chronology.PrintHeading(
        city=f"{municipality.prefecture} {municipality.name}" if municipality else "",
        disaster=disaster.name if disaster is not None else _("No disaster (平常時)"),
        printed_at=timezone.now(),
        printed_by=request.user.get_username(),
        filters=_describe(shown.filters),
    )
    response = HttpResponse(
        exports_chronology.chronology_pdf(found, heading), content_type="application/pdf"
    )
    # Inline: the browser's viewer opens it, ready to print.
    response["Content-Disposition"] = f'inline; filename="{_filename(disaster, "pdf")}"'
    response["Cache-Control"] = "no-store"
    return response


@staff_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponseBase:
    result = _export(request, "csv")
    if isinstance(result, HttpResponseBase):
        return result
    shown, found = result
    response = HttpResponse(
        exports_chronology.chronology_csv(found), content_type="text/csv; charset=utf-8"
    )
    filename = _filename(shown.filters.disaster, "csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
