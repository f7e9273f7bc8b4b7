"""Reads of the Wi-Fi room, for its pages and API and for other rooms."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, Count, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone

from machi.core import access
from machi.core.models import Facility, Job
from machi.core.roles import Action
from machi.wifi.models import (
    AccessPoint,
    ApSwitch,
    Mode,
    ProfileKind,
    Site,
    SsidProfile,
    SwitchStatus,
)

DISASTER_MODE = "wifi.disaster_mode"  # the access resource of the switch (policies.py)
JOB_KIND = "wifi.disaster_mode"  # the job kind (jobs.py)
# A switch job that has not finished after this long is taken as abandoned (its worker died):
# its APs may be switched by a new job.
BUSY_FOR = dt.timedelta(minutes=15)
NOT_NORMAL = Q(mode__in=[Mode.DISASTER, Mode.DRILL])


# --- Registry -----------------------------------------------------------------------------------


def sites_for(user: Any) -> QuerySet[Site]:
    """Sites with their APs (and the APs' normal profiles), as the user may read them."""
    aps = AccessPoint.objects.order_by("name").prefetch_related("profiles")
    return access.scope(
        user,
        Action.READ,
        Site.objects.select_related("facility").prefetch_related(
            Prefetch("access_points", queryset=aps)
        ),
    ).annotate(
        ap_count=Count("access_points", distinct=True),
        aps_not_normal=Count(
            "access_points",
            filter=Q(access_points__mode__in=[Mode.DISASTER, Mode.DRILL]),
            distinct=True,
        ),
    )


def site_for(user: Any, site_id: int) -> Site | None:
    return sites_for(user).filter(pk=site_id).first()


def aps_for(
    user: Any, *, site_id: int | None = None, mode: str = "", health: str = ""
) -> QuerySet[AccessPoint]:
    queryset = access.scope(
        user,
        Action.READ,
        AccessPoint.objects.select_related("site__facility")
        .prefetch_related("profiles")
        .order_by("site__facility__name", "name"),
    )
    if site_id is not None:
        queryset = queryset.filter(site_id=site_id)
    if mode:
        queryset = queryset.filter(mode=mode)
    if health:
        queryset = queryset.filter(health=health)
    return queryset


def ap_for(user: Any, ap_id: int) -> AccessPoint | None:
    return aps_for(user).filter(pk=ap_id).first()


def profiles_for(user: Any) -> QuerySet[SsidProfile]:
    return access.scope(user, Action.READ, SsidProfile.objects.order_by("kind", "name"))


def normal_profiles() -> QuerySet[SsidProfile]:
    """Profiles an AP may be given for normal times (never the disaster one)."""
    return SsidProfile.objects.exclude(kind=ProfileKind.DISASTER).order_by("kind", "name")


def disaster_profile() -> SsidProfile | None:
    """The 00000JAPAN profile (one per installation), or None when not configured."""
    return SsidProfile.objects.filter(kind=ProfileKind.DISASTER).order_by("pk").first()


def facilities_without_site() -> QuerySet[Facility]:
    """Facilities that may become a Wi-Fi site (each facility is at most one site)."""
    return Facility.objects.filter(wifi_site__isnull=True).order_by("name_kana", "name")


def disaster_target_sites() -> QuerySet[Site]:
    return Site.objects.filter(disaster_target=True).select_related("facility")


def sites_by_ids(ids: list[int]) -> QuerySet[Site]:
    return Site.objects.filter(pk__in=ids).select_related("facility")


# --- Disaster mode -------------------------------------------------------------------------------


def aps_not_normal(user: Any) -> QuerySet[AccessPoint]:
    """APs broadcasting 00000JAPAN (disaster or drill mode) or left with a saved configuration
    by a switch that failed: those a restore would touch."""
    return aps_for(user).filter(NOT_NORMAL | ~Q(saved_config={}))


def ap_ids_busy(*, now: dt.datetime | None = None) -> set[int]:
    """APs in a switch that is still queued or running in an unfinished, recent job."""
    since = (now or timezone.now()) - BUSY_FOR
    return set(
        ApSwitch.objects.filter(
            status__in=[SwitchStatus.QUEUED, SwitchStatus.RUNNING],
            job__finished_at__isnull=True,
            job__created_at__gte=since,
        ).values_list("ap_id", flat=True)
    )


def switch_jobs(*, limit: int = 20) -> QuerySet[Job]:
    """The latest disaster-mode jobs (the Wi-Fi page shows them to everyone who may read it:
    jobs started by a responder have no owner)."""
    return Job.objects.filter(kind=JOB_KIND).order_by("-created_at")[:limit]


def switch_job(job_id: Any) -> Job | None:
    return Job.objects.filter(kind=JOB_KIND, pk=job_id).select_related("created_by").first()


def switches_of(job: Job) -> QuerySet[ApSwitch]:
    """The job's APs, those that need someone first: failed, then still running, queued,
    confirmed, skipped; by site and name within each."""
    first = Case(
        *(When(status=status, then=Value(n)) for n, status in enumerate(_SWITCH_ORDER)),
        default=Value(len(_SWITCH_ORDER)),
    )
    return (
        ApSwitch.objects.filter(job=job)
        .select_related("ap__site__facility")
        .order_by(first, "ap__site__facility__name", "ap__name")
    )


_SWITCH_ORDER = (
    SwitchStatus.FAILED,
    SwitchStatus.RUNNING,
    SwitchStatus.QUEUED,
    SwitchStatus.CONFIRMED,
    SwitchStatus.SKIPPED,
)


@dataclass(frozen=True)
class SwitchCounts:
    queued: int = 0
    running: int = 0
    confirmed: int = 0
    failed: int = 0
    skipped: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def actionable(self) -> int:
        return self.queued + self.running + self.confirmed + self.failed

    @property
    def finished(self) -> int:
        return self.confirmed + self.failed


def switch_counts(job: Job) -> SwitchCounts:
    rows = dict(
        ApSwitch.objects.filter(job=job)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return SwitchCounts(
        queued=rows.get(SwitchStatus.QUEUED, 0),
        running=rows.get(SwitchStatus.RUNNING, 0),
        confirmed=rows.get(SwitchStatus.CONFIRMED, 0),
        failed=rows.get(SwitchStatus.FAILED, 0),
        skipped=rows.get(SwitchStatus.SKIPPED, 0),
        by_status=rows,
    )


def failed_ap_ids(job: Job) -> list[int]:
    return list(
        ApSwitch.objects.filter(job=job, status=SwitchStatus.FAILED).values_list("ap_id", flat=True)
    )


def sites_to_restore() -> QuerySet[Site]:
    """Sites with an AP that a restore would touch."""
    ids = AccessPoint.objects.filter(NOT_NORMAL | ~Q(saved_config={})).values("site_id")
    return Site.objects.filter(pk__in=ids).select_related("facility")
