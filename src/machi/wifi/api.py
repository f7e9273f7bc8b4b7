"""API of the Wi-Fi room: sites, access points, and the disaster-mode switch with its jobs.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

import datetime as dt
import uuid
from typing import Annotated, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from machi.core import access, problems
from machi.core.api import ProblemOut
from machi.core.roles import Action
from machi.wifi import disaster_mode, selectors
from machi.wifi.models import AccessPoint, Site, SwitchDirection
from machi.wifi.services import WifiError

router = Router(tags=["wifi"])

Id = Annotated[int, Field(ge=1, le=2**63 - 1)]


class SiteOut(Schema):
    id: int
    facility_id: int
    name: str
    address: str
    disaster_target: bool
    provides_area: str
    aps: int = Field(description="Access points at the site.")
    aps_not_normal: int = Field(description="Of which in disaster or drill mode (00000JAPAN).")


class ApOut(Schema):
    id: int
    name: str
    site_id: int
    site: str
    mac: str
    model: str
    driver: str
    enabled: bool
    health: str = Field(description="unknown, ok, problem or critical (from monitoring).")
    clients: int
    mode: str = Field(description="normal, disaster (00000JAPAN) or drill (訓練).")
    profiles: list[str] = Field(description="SSIDs of the AP's normal profiles.")
    broadcasting: list[str] = Field(description="SSIDs last confirmed on air by read-back.")
    config_status: str = Field(description="applied (confirmed), pending or error.")
    last_seen_at: dt.datetime | None


def _ap_out(ap: AccessPoint) -> ApOut:
    return ApOut(
        id=ap.pk,
        name=ap.name,
        site_id=ap.site_id,
        site=ap.site.facility.name,
        mac=ap.mac,
        model=ap.model,
        driver=ap.driver,
        enabled=ap.enabled,
        health=ap.health,
        clients=ap.clients,
        mode=ap.mode,
        profiles=[p.ssid for p in ap.profiles.all()],
        broadcasting=list(ap.broadcasting),
        config_status=ap.config_status,
        last_seen_at=ap.last_seen_at,
    )


@router.get(
    "/wifi/sites",
    response={200: list[SiteOut], 403: ProblemOut},
    summary="Wi-Fi sites with their number of APs",
)
def sites(request: HttpRequest) -> list[SiteOut]:
    access.require(request.user, Action.READ, Site)
    return [
        SiteOut(
            id=site.pk,
            facility_id=site.facility_id,
            name=site.facility.name,
            address=site.facility.address,
            disaster_target=site.disaster_target,
            provides_area=site.provides_area,
            aps=site.ap_count,  # type: ignore[attr-defined]
            aps_not_normal=site.aps_not_normal,  # type: ignore[attr-defined]
        )
        for site in selectors.sites_for(request.user)
    ]


@router.get(
    "/wifi/aps",
    response={200: list[ApOut], 403: ProblemOut},
    summary="Access points: health, clients, mode and what they broadcast",
)
def aps(
    request: HttpRequest,
    site_id: Id | None = None,
    mode: Literal["normal", "disaster", "drill"] | None = None,
) -> list[ApOut]:
    access.require(request.user, Action.READ, AccessPoint)
    return [_ap_out(ap) for ap in selectors.aps_for(request.user, site_id=site_id, mode=mode or "")]


class DisasterModeIn(Schema):
    sites: list[Id] | Literal["all"] = Field(
        description='Site ids, or "all" for every site.', examples=[[1, 2], "all"]
    )
    on: bool = Field(description="true: open 00000JAPAN; false: restore the normal SSIDs.")
    drill: bool = Field(
        False,
        description="A drill (訓練). Required to switch on when no disaster is declared.",
    )


class JobStartedOut(Schema):
    job_id: uuid.UUID
    aps: int = Field(description="Access points to switch.")
    skipped: int = Field(description="Access points skipped (see the job for why).")


@router.post(
    "/wifi/disaster-mode",
    response={202: JobStartedOut, 403: ProblemOut, 422: ProblemOut},
    summary="Switch sites to 00000JAPAN or back (a job; follow it at /wifi/jobs/{id})",
)
def disaster_mode_switch(request: HttpRequest, payload: DisasterModeIn) -> Status:
    access.require(request.user, Action.UPDATE, selectors.DISASTER_MODE)
    chosen: list[Site] | Literal["all"] = "all"
    if payload.sites != "all":
        wanted = list(dict.fromkeys(payload.sites))
        found = list(selectors.sites_by_ids(wanted))
        missing = sorted(set(wanted) - {site.pk for site in found})
        if missing:
            raise problems.invalid("sites", f"no such sites: {', '.join(map(str, missing))}")
        if not found:
            raise problems.invalid("sites", "choose at least one site")
        chosen = found
    try:
        job = disaster_mode.disaster_mode_start(
            sites=chosen,
            on=payload.on,
            requested_by=request.user,  # type: ignore[arg-type]
            drill=payload.drill,
        )
    except WifiError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    counts = selectors.switch_counts(job)
    return Status(202, JobStartedOut(job_id=job.pk, aps=counts.actionable, skipped=counts.skipped))


class ApSwitchOut(Schema):
    ap_id: int
    ap: str
    site: str
    status: str = Field(description="queued, running, confirmed, failed or skipped.")
    attempts: int
    error: str
    started_at: dt.datetime | None
    confirmed_at: dt.datetime | None


class SwitchCountsOut(Schema):
    queued: int
    running: int
    confirmed: int
    failed: int
    skipped: int


class SwitchJobOut(Schema):
    id: uuid.UUID
    title: str
    status: str = Field(description="queued, running, succeeded or failed (the job itself).")
    direction: str = Field(description="on (00000JAPAN) or off (restore).")
    drill: bool
    done: int
    total: int | None
    message: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    counts: SwitchCountsOut
    aps: list[ApSwitchOut]


@router.get(
    "/wifi/jobs/{job_id}",
    response={200: SwitchJobOut, 403: ProblemOut, 404: ProblemOut},
    summary="A disaster-mode switch: progress and every AP's outcome",
)
def job(request: HttpRequest, job_id: uuid.UUID) -> SwitchJobOut:
    access.require(request.user, Action.READ, selectors.DISASTER_MODE)
    found = selectors.switch_job(job_id)
    if found is None:
        raise problems_not_found()
    counts = selectors.switch_counts(found)
    return SwitchJobOut(
        id=found.pk,
        title=found.title,
        status=found.status,
        direction=found.params.get("direction", SwitchDirection.ON),
        drill=bool(found.params.get("drill")),
        done=found.done,
        total=found.total,
        message=found.message,
        created_at=found.created_at,
        started_at=found.started_at,
        finished_at=found.finished_at,
        counts=SwitchCountsOut(
            queued=counts.queued,
            running=counts.running,
            confirmed=counts.confirmed,
            failed=counts.failed,
            skipped=counts.skipped,
        ),
        aps=[
            ApSwitchOut(
                ap_id=s.ap_id,
                ap=s.ap.name,
                site=s.ap.site.facility.name,
                status=s.status,
                attempts=s.attempts,
                error=s.error,
                started_at=s.started_at,
                confirmed_at=s.confirmed_at,
            )
            for s in selectors.switches_of(found)
        ],
    )


@router.post(
    "/wifi/jobs/{job_id}/retry",
    response={202: JobStartedOut, 403: ProblemOut, 404: ProblemOut, 422: ProblemOut},
    summary="A new switch job for the APs that failed in this one",
)
def job_retry(request: HttpRequest, job_id: uuid.UUID) -> Status:
    access.require(request.user, Action.UPDATE, selectors.DISASTER_MODE)
    found = selectors.switch_job(job_id)
    if found is None:
        raise problems_not_found()
    try:
        retry = disaster_mode.disaster_mode_retry(job=found, requested_by=request.user)  # type: ignore[arg-type]
    except WifiError as exc:
        raise problems.invalid(exc.field, str(exc)) from exc
    counts = selectors.switch_counts(retry)
    return Status(
        202, JobStartedOut(job_id=retry.pk, aps=counts.actionable, skipped=counts.skipped)
    )


def problems_not_found() -> Exception:
    from django.http import Http404

    return Http404("no such disaster-mode job")
