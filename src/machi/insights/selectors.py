"""Reads of the insights room: the figures, computed from the other rooms' records.

The room only reads (the other rooms' models, never their writes). Every figure is counted in
the database: one grouped query per table (applications by procedure, channel and month;
deliveries by broadcast, channel, status and delay, from which the percentiles are read), a
window function for the most people present at once. A year of 100,000 applications costs a
few scans, not a Python loop over rows. Each section carries the text that says how it is
computed and where the data comes from: the page shows it beside the figure and the CSV file
repeats it. A figure the records cannot give is shown as "no records", never guessed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Round
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from machi.emergency.models import Disaster
from machi.guide import services as guide_services
from machi.guide.models import Feedback, Question
from machi.insights.models import MINUTES, ProcedureSetting, Setting
from machi.insights.period import Period
from machi.notify.models import Broadcast, Delivery, DeliveryStatus
from machi.notify.models import Channel as NotifyChannel
from machi.procedures import services as procedure_services
from machi.procedures.models import Application, Procedure
from machi.procedures.models import Channel as ApplicationChannel
from machi.shelters.models import Checkin, Opening
from machi.wifi.models import DISASTER_SSID, ApHour, ClientSeen, Site

# --- Assumptions (the room's own settings) --------------------------------------------------------


@dataclass(frozen=True)
class Minutes:
    """The minutes one application of a procedure takes (assumptions)."""

    travel: int  # round trip to the counter, the resident's
    waiting: int  # at the counter, the resident's
    counter_staff: int  # staff, an application at the counter
    online_staff: int  # staff, an application made online

    @classmethod
    def of(cls, record: Setting | ProcedureSetting) -> Minutes:
        return cls(*(int(getattr(record, name)) for name in MINUTES))


def assumptions() -> Setting:
    """The city's assumptions: the saved row, or the defaults (unsaved) before any change."""
    return Setting.objects.order_by("pk").first() or Setting()


def procedure_minutes() -> dict[int, Minutes]:
    """The procedures whose minutes differ from the defaults, by procedure id."""
    return {row.procedure_id: Minutes.of(row) for row in ProcedureSetting.objects.all()}


# --- Shares and percentiles -----------------------------------------------------------------------


def share(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide (shown as 「記録がありません」)."""
    return part / whole if whole else None


def _nearest_rank(count: int, percent: int) -> int:
    """The rank (1-based) of the ``percent``-th percentile of ``count`` ordered values: the
    nearest-rank method, ceil(p × n), in integers so no float rounding moves it."""
    return max(1, (count * percent + 99) // 100)


# --- 1–3. Applications, residents' time and cost, staff time --------------------------------------


@dataclass(frozen=True)
class ProcedureFigures:
    procedure_id: int | None  # None: the total of all procedures
    name: str
    minutes: Minutes | None  # None for the total (each procedure has its own)
    total: int
    online: int
    counter: int
    out_of_hours: int
    online_out_of_hours: int
    # Online applications whose result is not collected at the counter: the visits avoided.
    visits_avoided: int
    resident_minutes: int
    resident_yen: int
    staff_minutes: int

    @property
    def online_share(self) -> float | None:
        return share(self.online, self.total)

    @property
    def out_of_hours_share(self) -> float | None:
        return share(self.out_of_hours, self.total)

    @property
    def online_out_of_hours_share(self) -> float | None:
        return share(self.online_out_of_hours, self.online)

    @property
    def resident_hours(self) -> float:
        return self.resident_minutes / 60

    @property
    def staff_hours(self) -> float:
        return self.staff_minutes / 60


@dataclass(frozen=True)
class Bin:
    label: str
    start: dt.date
    online: int
    counter: int

    @property
    def total(self) -> int:
        return self.online + self.counter


@dataclass(frozen=True)
class Applications:
    rows: list[ProcedureFigures]
    total: ProcedureFigures
    bins: list[Bin]
    bin_unit: str  # "day", "month" or "year"
    value_per_hour_yen: int
    travel_cost_yen: int
    method_channels: str
    method_hours: str
    method_resident: str
    method_staff: str
    source: str


def _bins(period: Period) -> tuple[str, list[tuple[dt.date, dt.date, str]]]:
    """Days for up to two months, months for up to three years, years beyond."""
    bounds: list[tuple[dt.date, dt.date, str]] = []
    if period.days <= 62:
        day = period.start
        while day <= period.end:
            bounds.append((day, day + dt.timedelta(days=1), day.strftime("%m/%d")))
            day += dt.timedelta(days=1)
        return "day", bounds
    months = (period.end.year - period.start.year) * 12 + period.end.month - period.start.month
    if months < 36:
        first = period.start.replace(day=1)
        while first <= period.end:
            following = (first + dt.timedelta(days=32)).replace(day=1)
            bounds.append((max(first, period.start), following, first.strftime("%Y-%m")))
            first = following
        return "month", bounds
    for year in range(period.start.year, period.end.year + 1):
        start = max(dt.date(year, 1, 1), period.start)
        bounds.append((start, dt.date(year + 1, 1, 1), str(year)))
    return "year", bounds


def _aware(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def applications(period: Period, setting: Setting | None = None) -> Applications:
    """How residents applied, and the time and money that saved them and the staff."""
    setting = setting or assumptions()
    defaults = Minutes.of(setting)
    overrides = procedure_minutes()
    unit, bounds = _bins(period)
    # One scan: counted by procedure, channel and time bin (the rows are already in the
    # period, so each bin needs only its end).
    bin_of = Case(
        *(
            When(submitted_at__lt=_aware(end), then=Value(index))
            for index, (_start, end, _label) in enumerate(bounds)
        ),
        output_field=IntegerField(),
    )
    groups = (
        Application.objects.filter(submitted_at__gte=period.since, submitted_at__lt=period.until)
        .annotate(bin=bin_of)
        .values_list("procedure", "channel", "bin")
        .annotate(
            n=Count("pk"),
            # A name of its own: "out_of_hours" would hide the field of that name.
            n_out_of_hours=Count("pk", filter=Q(out_of_hours=True)),
            n_visits_avoided=Count("pk", filter=~Q(delivery="counter")),
        )
        .order_by()
    )
    zero = dict.fromkeys(
        ("n_total", "n_online", "n_counter", "n_out_of_hours", "n_online_out_of_hours"), 0
    )
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {**zero, "n_visits_avoided": 0})
    by_bin: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for procedure_id, channel, index, n, out_of_hours, not_collected in groups:
        c = counts[procedure_id]
        c["n_total"] += n
        c["n_out_of_hours"] += out_of_hours
        if channel == ApplicationChannel.ONLINE:
            c["n_online"] += n
            c["n_online_out_of_hours"] += out_of_hours
            # Online, and the result not collected at the counter: a visit avoided.
            c["n_visits_avoided"] += not_collected
        elif channel == ApplicationChannel.COUNTER:
            c["n_counter"] += n
        if index is not None:
            by_bin[index][channel] += n
    rows = []
    for procedure in Procedure.objects.filter(pk__in=list(counts)).order_by("position", "pk"):
        c = counts[procedure.pk]
        minutes = overrides.get(procedure.pk, defaults)
        resident = c["n_visits_avoided"] * (minutes.travel + minutes.waiting)
        rows.append(
            ProcedureFigures(
                procedure_id=procedure.pk,
                name=procedure.name,
                minutes=minutes,
                total=c["n_total"],
                online=c["n_online"],
                counter=c["n_counter"],
                out_of_hours=c["n_out_of_hours"],
                online_out_of_hours=c["n_online_out_of_hours"],
                visits_avoided=c["n_visits_avoided"],
                resident_minutes=resident,
                resident_yen=round(
                    resident * setting.value_per_hour_yen / 60
                    + c["n_visits_avoided"] * setting.travel_cost_yen
                ),
                staff_minutes=c["n_online"] * (minutes.counter_staff - minutes.online_staff),
            )
        )
    total = ProcedureFigures(
        procedure_id=None,
        name=_("All procedures"),
        minutes=None,
        **{
            name: sum(getattr(row, name) for row in rows)
            for name in (
                "total",
                "online",
                "counter",
                "out_of_hours",
                "online_out_of_hours",
                "visits_avoided",
                "resident_minutes",
                "resident_yen",
                "staff_minutes",
            )
        },
    )
    bins = [
        Bin(
            label,
            start,
            by_bin[index].get(ApplicationChannel.ONLINE, 0),
            by_bin[index].get(ApplicationChannel.COUNTER, 0),
        )
        for index, (start, _end, label) in enumerate(bounds)
    ]
    opens = procedure_services.OPENS.strftime("%H:%M")
    closes = procedure_services.CLOSES.strftime("%H:%M")
    return Applications(
        rows=rows,
        total=total,
        bins=bins,
        bin_unit=unit,
        value_per_hour_yen=setting.value_per_hour_yen,
        travel_cost_yen=setting.travel_cost_yen,
        method_channels=_(
            "Applications submitted in the period (by the time they were submitted, Japan "
            "time), counted by the channel recorded with each: online (the resident portal and "
            "the API) or at the counter (entered by staff). Paper applications sent by post "
            "are recorded as counter applications if staff enter them, otherwise not at all."
        ),
        method_hours=_(
            "Out of office hours: submitted on a Saturday, a Sunday or a public holiday "
            "(jpholiday), or on a weekday before %(opens)s or from %(closes)s, as the "
            "procedures room records it when the application arrives."
        )
        % {"opens": opens, "closes": closes},
        method_resident=_(
            "For each procedure: the visits avoided (online applications whose result is not "
            "collected at the counter) × (round trip + waiting at the counter, in minutes) "
            "= minutes saved; × %(value)s yen an hour, plus %(travel)s yen of travel cost per "
            "visit avoided = yen saved. The minutes and the value of an hour are assumptions "
            "the city sets (the default value of an hour is the national weighted average of "
            "the minimum wages, FY2025); they are shown in the table."
        )
        % {
            "value": f"{setting.value_per_hour_yen:,}",
            "travel": f"{setting.travel_cost_yen:,}",
        },
        method_staff=_(
            "For each procedure: online applications × (staff minutes for an application at "
            "the counter − staff minutes for one made online). Assumptions the city sets; a "
            "negative figure means online applications take staff longer."
        ),
        source=_("Procedures room: applications (channel, time submitted, delivery)."),
    )


# --- 4. Wi-Fi at shelters -------------------------------------------------------------------------


@dataclass(frozen=True)
class DisasterWifi:
    disaster_id: int
    name: str
    is_exercise: bool
    started_at: dt.datetime
    ended_at: dt.datetime | None
    shelters_opened: int
    shelters_with_wifi: int
    peak_clients: int | None  # None: no monitoring records
    peak_clients_at: dt.datetime | None
    clients_source: str  # "clients" (unique devices), "ap_hours" (APs' maxima) or ""
    peak_present: int | None  # None: no check-in records
    peak_present_at: dt.datetime | None
    evacuees: int  # people who checked in at a shelter with Wi-Fi, over the whole disaster

    @property
    def connected_share(self) -> float | None:
        if self.peak_clients is None or not self.peak_present:
            return None
        return self.peak_clients / self.peak_present


@dataclass(frozen=True)
class Wifi:
    rows: list[DisasterWifi]
    method: str
    source: str


def _peak_present(opening_ids: list[int]) -> tuple[int | None, dt.datetime | None]:
    """The most people present at once over these openings, and when: check-ins count +1,
    check-outs −1, summed in time order (a window function); at the same instant a departure
    is counted before an arrival, as the shelters room counts who is present."""
    if not opening_ids:
        return None, None
    table = Checkin._meta.db_table
    marks = ", ".join(["%s"] * len(opening_ids))
    sql = (
        "SELECT at, present FROM ("  # noqa: S608 - table names from the models, ids as params
        " SELECT at, SUM(delta) OVER (ORDER BY at, delta ROWS UNBOUNDED PRECEDING) AS present"
        f" FROM (SELECT checked_in_at AS at, 1 AS delta FROM {table} WHERE opening_id IN ({marks})"
        f" UNION ALL SELECT checked_out_at AS at, -1 AS delta FROM {table}"
        f" WHERE opening_id IN ({marks}) AND checked_out_at IS NOT NULL) moves"
        ") running ORDER BY present DESC, at LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*opening_ids, *opening_ids])
        row = cursor.fetchone()
    if row is None:
        return None, None
    at = row[0]
    if isinstance(at, str):  # SQLite hands raw SQL its text
        at = dt.datetime.fromisoformat(at)
    if at is not None and timezone.is_naive(at):
        at = timezone.make_aware(at, dt.UTC)
    return int(row[1]), at


def _peak_clients(
    site_ids: list[int], since: dt.datetime, until: dt.datetime
) -> tuple[int | None, dt.datetime | None, str]:
    """The most client devices in one hour at these sites, and the hour: unique devices
    (ClientSeen, kept 90 days) or, once those are purged, the APs' hourly maxima summed."""
    if not site_ids:
        return None, None, ""
    start = since.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    hours = (
        ClientSeen.objects.filter(site_id__in=site_ids, hour__gte=start, hour__lt=until)
        .values("hour")
        .annotate(n=Count("pk"))
        .order_by("-n", "hour")
        .first()
    )
    if hours is not None:
        return int(hours["n"]), hours["hour"], "clients"
    maxima = (
        ApHour.objects.filter(ap__site_id__in=site_ids, hour__gte=start, hour__lt=until)
        .values("hour")
        .annotate(n=Sum("max_clients"))
        .order_by("-n", "hour")
        .first()
    )
    if maxima is not None:
        return int(maxima["n"] or 0), maxima["hour"], "ap_hours"
    return None, None, ""


def wifi(period: Period, *, now: dt.datetime | None = None) -> Wifi:
    """For each disaster of the period: evacuees' devices on the shelters' Wi-Fi against the
    evacuees present (the Toda figure: about 45% of 3,849 evacuees in 2019)."""
    now = now or timezone.now()
    disasters = (
        Disaster.objects.filter(started_at__lt=period.until)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=period.since))
        .order_by("started_at", "pk")
    )
    site_of = dict(Site.objects.values_list("facility_id", "pk"))
    rows = []
    for disaster in disasters:
        openings = list(
            Opening.objects.filter(disaster=disaster).values_list("pk", "shelter__facility_id")
        )
        with_wifi = [(pk, facility) for pk, facility in openings if facility in site_of]
        opening_ids = [pk for pk, _facility in with_wifi]
        clients, clients_at, source = _peak_clients(
            sorted({site_of[facility] for _pk, facility in with_wifi}),
            disaster.started_at,
            disaster.ended_at or now,
        )
        present, present_at = _peak_present(opening_ids)
        rows.append(
            DisasterWifi(
                disaster_id=disaster.pk,
                name=disaster.name,
                is_exercise=disaster.is_exercise,
                started_at=disaster.started_at,
                ended_at=disaster.ended_at,
                shelters_opened=len(openings),
                shelters_with_wifi=len(with_wifi),
                peak_clients=clients,
                peak_clients_at=clients_at,
                clients_source=source,
                peak_present=present,
                peak_present_at=present_at,
                evacuees=Checkin.objects.filter(opening_id__in=opening_ids)
                .values("person_id")
                .distinct()
                .count()
                if opening_ids
                else 0,
            )
        )
    return Wifi(
        rows=rows,
        method=_(
            "For each disaster that was under way in the period (over the whole disaster), at "
            "the shelters it opened that have a Wi-Fi site: the most client devices connected "
            "in one hour (unique devices per site and hour, summed over the sites; where those "
            "are no longer kept, the most clients each access point reported in the hour, "
            "summed) ÷ the most people present at once (check-ins minus check-outs at those "
            "shelters). Devices are not people: a family shares a phone, a person carries two, "
            "a phone that changes its address counts twice; the share is an indicator. The "
            "monitoring counts clients per access point, not per SSID: in disaster mode the "
            "access points broadcast only %(ssid)s, so the clients counted while it was on "
            "are on %(ssid)s."
        )
        % {"ssid": DISASTER_SSID},
        source=_(
            "Emergency room: disasters. Shelters room: openings and check-ins. Wi-Fi room: "
            "sites, client devices seen per hour, access points' hourly maxima."
        ),
    )


# --- 5. Notifications -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    """Deliveries of one broadcast, one channel, or all: counts and times from the start of
    the sending to each delivery (seconds)."""

    label: str
    recipients: int = 0
    delivered: int = 0
    failed: int = 0
    p50: float | None = None
    p95: float | None = None
    to_90: float | None = None  # until 90% of the recipients had it; None: never reached

    @property
    def pending(self) -> int:
        return self.recipients - self.delivered - self.failed

    @property
    def reach(self) -> float | None:
        return share(self.delivered, self.recipients)


@dataclass(frozen=True)
class BroadcastReach:
    broadcast_id: str
    subject: str
    emergency: bool
    started_at: dt.datetime
    all: Reach
    channels: list[Reach]


@dataclass(frozen=True)
class Bucket:
    label: str
    count: int


@dataclass(frozen=True)
class Notifications:
    broadcasts: list[BroadcastReach]
    channels: list[Reach]
    total: Reach
    buckets: list[Bucket]
    method: str
    source: str


# Delivery-time buckets of the distribution chart: (upper bound in seconds, label).
BUCKETS: tuple[tuple[int | None, Any], ...] = (
    (10, gettext_lazy("≤10 s")),
    (60, gettext_lazy("≤1 min")),
    (300, gettext_lazy("≤5 min")),
    (900, gettext_lazy("≤15 min")),
    (3600, gettext_lazy("≤1 h")),
    (None, gettext_lazy(">1 h")),
)


class Seconds(Func):
    """``end − start`` in seconds, computed by the database itself. (Django's own datetime
    subtraction on SQLite calls back into Python for every row: seconds over 100,000 rows.)"""

    output_field = FloatField()
    arg_joiner = " - "
    template = "CAST(EXTRACT(EPOCH FROM (%(expressions)s)) AS double precision)"

    def __init__(self, end: Any, start: Any) -> None:
        super().__init__(end, start)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


def _rounded_delay() -> Case:
    """The delay of a delivery (``seconds``, aliased), rounded as the figures are given: to
    0.1 s under 10 s, to the second under 10 minutes, to 10 s beyond. Grouping by it lets the
    database return a few hundred counts per broadcast and channel instead of every delivery."""
    seconds = F("seconds")
    return Case(
        When(seconds__isnull=True, then=Value(None)),
        When(seconds__lt=10, then=Round(seconds * 10.0) / 10.0),
        When(seconds__lt=600, then=Round(seconds)),
        default=Round(seconds / 10.0) * 10.0,
        output_field=FloatField(),
    )


@dataclass
class _Tally:
    """Counts of one group of deliveries, and how many were delivered after each delay."""

    recipients: int = 0
    delivered: int = 0
    failed: int = 0
    delays: dict[float, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, status: str, delay: float | None, n: int) -> None:
        self.recipients += n
        if status == DeliveryStatus.DELIVERED:
            self.delivered += n
            if delay is not None:
                self.delays[delay] += n
        elif status == DeliveryStatus.PERMANENT_FAILURE:
            self.failed += n

    def at_rank(self, rank: int) -> float | None:
        """The delay of the ``rank``-th delivery (1-based) in time order, or None."""
        seen = 0
        for delay in sorted(self.delays):
            seen += self.delays[delay]
            if seen >= rank:
                return delay
        return None

    def reach(self, label: str) -> Reach:
        timed = sum(self.delays.values())
        return Reach(
            label=label,
            recipients=self.recipients,
            delivered=self.delivered,
            failed=self.failed,
            p50=self.at_rank(_nearest_rank(timed, 50)) if timed else None,
            p95=self.at_rank(_nearest_rank(timed, 95)) if timed else None,
            to_90=self.at_rank(_nearest_rank(self.recipients, 90)) if self.recipients else None,
        )


def notifications(period: Period) -> Notifications:
    """Per broadcast started in the period: who it was for, who got it, and how fast.

    One grouped query: the deliveries counted by broadcast, channel, status and (rounded)
    delay. Every figure (per broadcast, per channel, in all; counts and percentiles) is then
    read from those counts."""
    broadcasts = list(
        Broadcast.objects.filter(
            test=False, started_at__gte=period.since, started_at__lt=period.until
        ).order_by("-started_at", "pk")
    )
    groups = (
        Delivery.objects.filter(
            broadcast__test=False,
            broadcast__started_at__gte=period.since,
            broadcast__started_at__lt=period.until,
        )
        .alias(seconds=Seconds(F("sent_at"), F("broadcast__started_at")))
        # The broadcast's id as text: turning thousands of rows' ids into UUIDs costs more
        # than the query.
        .annotate(key=Cast("broadcast_id", CharField()), delay=_rounded_delay())
        .values_list("key", "channel", "status", "delay")
        .annotate(n=Count("pk"))
        .order_by()
    )
    per_broadcast: dict[Any, _Tally] = defaultdict(_Tally)
    per_pair: dict[tuple[Any, str], _Tally] = defaultdict(_Tally)
    per_channel: dict[str, _Tally] = defaultdict(_Tally)
    overall = _Tally()
    ids: dict[str, uuid.UUID] = {}
    for key, channel, status, delay, n in groups:
        broadcast_id = ids.get(key) or ids.setdefault(key, uuid.UUID(key))
        # A delivery recorded a moment before the sending started (clocks): no delay.
        seconds = max(0.0, float(delay)) if delay is not None else None
        for tally in (
            per_broadcast[broadcast_id],
            per_pair[(broadcast_id, channel)],
            per_channel[channel],
            overall,
        ):
            tally.add(status, seconds, int(n))
    labels = {value: str(label) for value, label in NotifyChannel.choices}
    rows = [
        BroadcastReach(
            broadcast_id=str(broadcast.pk),
            subject=broadcast.subject,
            emergency=broadcast.emergency,
            started_at=broadcast.started_at or broadcast.created_at,
            all=per_broadcast[broadcast.pk].reach(_("All channels")),
            channels=[
                tally.reach(labels.get(channel, channel))
                for (pk, channel), tally in sorted(per_pair.items(), key=lambda item: item[0][1])
                if pk == broadcast.pk
            ],
        )
        for broadcast in broadcasts
    ]
    channels = [
        per_channel[channel].reach(str(label))
        for channel, label in NotifyChannel.choices
        if channel in per_channel
    ]
    buckets = []
    lower = -1.0
    for upper, label in BUCKETS:
        count = sum(
            n
            for delay, n in overall.delays.items()
            if delay > lower and (upper is None or delay <= upper)
        )
        buckets.append(Bucket(str(label), count))
        lower = float(upper) if upper is not None else lower
    return Notifications(
        broadcasts=rows,
        channels=channels,
        total=overall.reach(_("All broadcasts")),
        buckets=buckets,
        method=_(
            "Broadcasts whose sending started in the period (test broadcasts, which send "
            "nothing, are left out). Recipients: the deliveries made for the subscribers it "
            "matched; delivered: accepted by the channel (an e-mail that bounced later counts "
            "as failed); reach = delivered ÷ recipients. Time to deliver: from the start of the "
            "sending to each delivery, to 0.1 s under 10 s, to the second under 10 minutes, to "
            "10 s beyond; p50 and p95 are the nearest-rank percentiles of the delivered ones; "
            "'until 90%%' is when 90%% of the recipients had it (or not reached)."
        )
        % {},
        source=_(
            "Notify room: broadcasts (start of sending) and deliveries (channel, status, time)."
        ),
    )


# --- 6. Questions answered without staff ----------------------------------------------------------


@dataclass(frozen=True)
class Questions:
    asked: int
    confident: int  # answered with confidence at or above the guide's threshold
    answered: int  # confident and not marked 「解決しなかった」: without staff
    needs_staff: int  # low confidence, or 「解決しなかった」
    resolved: int
    unresolved: int
    no_feedback: int
    phone_minutes: int
    staff_minutes: int
    method: str
    method_staff: str
    source: str

    @property
    def confident_share(self) -> float | None:
        return share(self.confident, self.asked)

    @property
    def answered_share(self) -> float | None:
        return share(self.answered, self.asked)

    @property
    def needs_staff_share(self) -> float | None:
        return share(self.needs_staff, self.asked)

    @property
    def resolved_share(self) -> float | None:
        return share(self.resolved, self.asked)

    @property
    def unresolved_share(self) -> float | None:
        return share(self.unresolved, self.asked)

    @property
    def no_feedback_share(self) -> float | None:
        return share(self.no_feedback, self.asked)

    @property
    def staff_hours(self) -> float:
        return self.staff_minutes / 60


def questions(period: Period, setting: Setting | None = None) -> Questions:
    """What residents asked the FAQ assistant, and how much of it needed no one."""
    setting = setting or assumptions()
    unresolved = Q(feedback=Feedback.UNRESOLVED)
    confident = Q(low_confidence=False)
    counts = Question.objects.filter(
        asked_at__gte=period.since, asked_at__lt=period.until
    ).aggregate(
        asked=Count("pk"),
        confident=Count("pk", filter=confident),
        answered=Count("pk", filter=confident & ~unresolved),
        needs_staff=Count("pk", filter=~confident | unresolved),
        resolved=Count("pk", filter=Q(feedback=Feedback.RESOLVED)),
        unresolved=Count("pk", filter=unresolved),
        no_feedback=Count("pk", filter=Q(feedback=Feedback.NONE)),
    )
    minutes = setting.phone_enquiry_minutes
    return Questions(
        **{name: int(value or 0) for name, value in counts.items()},
        phone_minutes=minutes,
        staff_minutes=int(counts["answered"] or 0) * minutes,
        method=_(
            "Questions residents asked the FAQ assistant in the period. Answered without staff: "
            "the best answer's confidence was at or above the guide's threshold when it was "
            "asked (now %(threshold)s) and the resident did not mark it 「解決しなかった」. "
            "Needing staff: below the threshold, or marked 「解決しなかった」 (the guide's "
            "review queue). 「解決した」 and 「解決しなかった」 are the residents' own answers; "
            "most give none."
        )
        % {"threshold": guide_services.LOW_CONFIDENCE},
        method_staff=_(
            "Questions answered without staff × %(minutes)s minutes of a phone enquiry (an "
            "assumption the city sets). An upper bound: not every question would have been a "
            "phone call."
        )
        % {"minutes": minutes},
        source=_("Guide room: questions asked (confidence, feedback)."),
    )


# --- The page -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    period: Period
    setting: Setting
    applications: Applications
    questions: Questions
    wifi: Wifi
    notifications: Notifications

    @property
    def staff_minutes(self) -> int:
        return self.applications.total.staff_minutes + self.questions.staff_minutes

    @property
    def staff_hours(self) -> float:
        return self.staff_minutes / 60


def figures(period: Period) -> Figures:
    setting = assumptions()
    return Figures(
        period=period,
        setting=setting,
        applications=applications(period, setting),
        questions=questions(period, setting),
        wifi=wifi(period),
        notifications=notifications(period),
    )
