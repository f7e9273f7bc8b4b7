"""The figures of the page as one CSV file for Excel: every figure with its period, unit, how
it is computed and where it comes from (UTF-8 with BOM, CRLF, no formulas)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from machi.core.japanese import excel_csv
from machi.insights.selectors import Figures, ProcedureFigures, Reach


def _percent(value: float | None) -> str:
    return f"{100 * value:.1f}" if value is not None else str(_("No records"))


def _number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return str(_("No records"))
    return f"{value:.{digits}f}"


class _Rows:
    def __init__(self, figures: Figures) -> None:
        self.start = figures.period.start.isoformat()
        self.end = figures.period.end.isoformat()
        self.rows: list[list[str]] = [
            [
                _("From"),
                _("To"),
                _("Section"),
                _("Figure"),
                _("Subject"),
                _("Value"),
                _("Unit"),
                _("How this is computed"),
                _("Source"),
            ]
        ]
        self.section = self.method = self.source = ""

    def start_section(self, section: str, method: str, source: str) -> None:
        self.section, self.method, self.source = section, method, source

    def add(self, figure: str, subject: str, value: str, unit: str) -> None:
        self.rows.append(
            [
                self.start,
                self.end,
                self.section,
                figure,
                subject,
                value,
                unit,
                self.method,
                self.source,
            ]
        )


def _applications(out: _Rows, figures: Figures) -> None:
    apps = figures.applications
    out.start_section(_("Applications"), f"{apps.method_channels} {apps.method_hours}", apps.source)
    rows: list[ProcedureFigures] = [*apps.rows, apps.total]
    for row in rows:
        out.add(_("Applications"), row.name, _number(row.total), _("applications"))
        out.add(_("Made online"), row.name, _number(row.online), _("applications"))
        out.add(_("Made at the counter"), row.name, _number(row.counter), _("applications"))
        out.add(_("Share made online"), row.name, _percent(row.online_share), "%")
        out.add(
            _("Received out of office hours"),
            row.name,
            _number(row.out_of_hours),
            _("applications"),
        )
        out.add(
            _("Share received out of office hours"), row.name, _percent(row.out_of_hours_share), "%"
        )
        out.add(
            _("Share of online applications made out of office hours"),
            row.name,
            _percent(row.online_out_of_hours_share),
            "%",
        )
    for bin in apps.bins:
        out.add(_("Applications made online"), bin.label, _number(bin.online), _("applications"))
        out.add(
            _("Applications made at the counter"),
            bin.label,
            _number(bin.counter),
            _("applications"),
        )
    out.start_section(_("Residents' time and cost saved"), apps.method_resident, apps.source)
    out.add(_("Value of an hour (assumption)"), "", _number(apps.value_per_hour_yen), _("yen"))
    out.add(_("Travel cost of a visit (assumption)"), "", _number(apps.travel_cost_yen), _("yen"))
    for row in rows:
        if row.minutes is not None:
            out.add(
                _("Round trip (assumption)"), row.name, _number(row.minutes.travel), _("minutes")
            )
            out.add(_("Waiting (assumption)"), row.name, _number(row.minutes.waiting), _("minutes"))
        out.add(
            _("Visits to the counter avoided"), row.name, _number(row.visits_avoided), _("visits")
        )
        out.add(_("Residents' time saved"), row.name, _number(row.resident_hours, 1), _("hours"))
        out.add(_("Residents' cost saved"), row.name, _number(row.resident_yen), _("yen"))
    out.start_section(_("Staff time saved"), apps.method_staff, apps.source)
    for row in rows:
        if row.minutes is not None:
            out.add(
                _("Staff minutes at the counter (assumption)"),
                row.name,
                _number(row.minutes.counter_staff),
                _("minutes"),
            )
            out.add(
                _("Staff minutes online (assumption)"),
                row.name,
                _number(row.minutes.online_staff),
                _("minutes"),
            )
        out.add(
            _("Staff time saved by online applications"),
            row.name,
            _number(row.staff_hours, 1),
            _("hours"),
        )
    questions = figures.questions
    out.start_section(_("Staff time saved"), questions.method_staff, questions.source)
    out.add(_("Phone enquiry (assumption)"), "", _number(questions.phone_minutes), _("minutes"))
    out.add(
        _("Staff time saved by questions answered without staff"),
        "",
        _number(questions.staff_hours, 1),
        _("hours"),
    )
    out.add(_("Staff time saved in all"), "", _number(figures.staff_hours, 1), _("hours"))


def _wifi(out: _Rows, figures: Figures) -> None:
    wifi = figures.wifi
    out.start_section(_("Wi-Fi at shelters"), wifi.method, wifi.source)
    if not wifi.rows:
        out.add(_("Disasters"), "", str(_("No records")), "")
    for row in wifi.rows:
        name = f"{row.name} ({timezone.localtime(row.started_at):%Y-%m-%d})"
        out.add(_("Shelters opened"), name, _number(row.shelters_opened), _("shelters"))
        out.add(
            _("Shelters opened with Wi-Fi"), name, _number(row.shelters_with_wifi), _("shelters")
        )
        out.add(
            _("Most devices connected in one hour"), name, _number(row.peak_clients), _("devices")
        )
        out.add(_("Most people present at once"), name, _number(row.peak_present), _("people"))
        out.add(_("People who stayed"), name, _number(row.evacuees), _("people"))
        out.add(_("Share of evacuees connected"), name, _percent(row.connected_share), "%")


def _reach(out: _Rows, subject: str, reach: Reach) -> None:
    out.add(_("Recipients"), subject, _number(reach.recipients), _("recipients"))
    out.add(_("Delivered"), subject, _number(reach.delivered), _("recipients"))
    out.add(_("Failed"), subject, _number(reach.failed), _("recipients"))
    out.add(_("Reach"), subject, _percent(reach.reach), "%")
    out.add(_("Time to deliver, median (p50)"), subject, _number(reach.p50, 1), _("seconds"))
    out.add(_("Time to deliver, p95"), subject, _number(reach.p95, 1), _("seconds"))
    out.add(
        _("Time until %(share)s had it") % {"share": "90%"},
        subject,
        _number(reach.to_90, 1)
        if reach.to_90 is not None or not reach.recipients
        else str(_("not reached")),
        _("seconds"),
    )


def _notifications(out: _Rows, figures: Figures) -> None:
    notes = figures.notifications
    out.start_section(_("Notifications"), notes.method, notes.source)
    _reach(out, notes.total.label, notes.total)
    for channel in notes.channels:
        _reach(out, channel.label, channel)
    for bucket in notes.buckets:
        out.add(
            _("Deliveries by time to deliver"), bucket.label, _number(bucket.count), _("deliveries")
        )
    for broadcast in notes.broadcasts:
        when = f"{timezone.localtime(broadcast.started_at):%Y-%m-%d %H:%M}"
        _reach(out, f"{when} {broadcast.subject}", broadcast.all)
        for channel in broadcast.channels:
            _reach(out, f"{when} {broadcast.subject} / {channel.label}", channel)


def _questions(out: _Rows, figures: Figures) -> None:
    q = figures.questions
    out.start_section(_("Questions answered without staff"), q.method, q.source)
    out.add(_("Questions asked"), "", _number(q.asked), _("questions"))
    out.add(_("Answered without staff"), "", _number(q.answered), _("questions"))
    out.add(_("Share answered without staff"), "", _percent(q.answered_share), "%")
    out.add(_("Share answered with confidence"), "", _percent(q.confident_share), "%")
    out.add(_("Share marked 「解決した」"), "", _percent(q.resolved_share), "%")
    out.add(_("Share marked 「解決しなかった」"), "", _percent(q.unresolved_share), "%")
    out.add(_("Share without the resident's answer"), "", _percent(q.no_feedback_share), "%")
    out.add(_("Share needing staff"), "", _percent(q.needs_staff_share), "%")


def figures_csv(figures: Figures) -> bytes:
    out = _Rows(figures)
    _applications(out, figures)
    _questions(out, figures)
    _wifi(out, figures)
    _notifications(out, figures)
    return excel_csv(out.rows)
