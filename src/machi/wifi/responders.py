"""The Wi-Fi room's answer to a declaration: open 00000JAPAN at the shelters, and close it after.

Listed in ``settings.MACHI_RESPONDERS`` as ``machi.wifi.responders.respond``.

**Declared.** The APs of the sites that are disaster targets (``Site.disaster_target``) and are
shelters (the facility is a shelter in the shelters room's registry, or a designated 指定避難所)
switch to 00000JAPAN at once, plus any disaster-target site whose facility already has a live
opening for this disaster. Why not wait for each shelter to open: shelters open one by one
after the declaration, Machi has no signals to hear each opening, and residents are sent to a
shelter as soon as it is announced, so its Wi-Fi must already be up; an unopened school
broadcasting 00000JAPAN for a while harms nobody, while a shelter without it does. Sites that
are not shelters (the city hall, a library) are switched from the disaster-mode page. A
disaster declared as an exercise switches as a drill (訓練).

**Ended.** Every AP not in normal mode (disaster or drill) or still holding a kept
configuration is restored, unless another disaster is still active (then 00000JAPAN stays on).

Idempotent: APs already broadcasting 00000JAPAN, or in a switch still running, are not
switched again; when nothing is left to do no job is started. When APs were still being
switched by another job at the end of a disaster, the responder starts the rest and fails,
so that it is retried (Huey retries, or HQ's "try again") once those jobs have finished.
"""

from __future__ import annotations

from machi.emergency import selectors as emergency_selectors
from machi.emergency.models import Disaster, ResponderEvent
from machi.emergency.responders import Outcome
from machi.shelters import selectors as shelter_selectors
from machi.wifi import disaster_mode, selectors
from machi.wifi.models import AccessPoint, Driver, Mode, Site


class StillSwitching(RuntimeError):
    """Some APs are in a switch that has not finished; the responder is to be retried."""


def respond(disaster: Disaster, event: str) -> Outcome:
    if event == ResponderEvent.ENDED:
        return _ended(disaster)
    return _declared(disaster)


def _switchable(aps: list[AccessPoint]) -> list[AccessPoint]:
    return [ap for ap in aps if ap.enabled and ap.driver != Driver.SNMP]


def target_sites(disaster: Disaster) -> tuple[list[Site], int]:
    """The disaster-target sites to switch now, and how many of them have a live opening."""
    shelter_facilities = {
        shelter.facility_id for shelter, _ in shelter_selectors.shelters_with_openings(disaster)
    }
    live = {o.shelter.facility_id for o in shelter_selectors.openings_live(disaster)}
    sites = [
        site
        for site in selectors.disaster_target_sites()
        if site.facility_id in shelter_facilities
        or site.facility_id in live
        or site.facility.is_shelter
    ]
    return sites, sum(1 for site in sites if site.facility_id in live)


def _declared(disaster: Disaster) -> Outcome:
    if not disaster.is_active:
        return Outcome("the disaster has ended: 00000JAPAN not opened", {"aps": 0})
    sites, with_opening = target_sites(disaster)
    if not sites:
        return Outcome("no disaster-target shelter has Wi-Fi: nothing to switch", {"aps": 0})
    busy = selectors.ap_ids_busy()
    aps = _switchable(list(AccessPoint.objects.filter(site__in=sites).order_by("pk")))
    # Already broadcasting 00000JAPAN for a disaster (confirmed), or being switched: left alone.
    todo = [
        ap
        for ap in aps
        if ap.pk not in busy and not (ap.mode == Mode.DISASTER and ap.config_status == "applied")
    ]
    detail = {
        "sites": [site.pk for site in sites],
        "sites_with_open_shelter": with_opening,
        "aps": len(todo),
        "already": len(aps) - len(todo),
    }
    if not todo:
        return Outcome(
            f"00000JAPAN already on (or being switched) at {len(aps)} APs of {len(sites)} sites",
            detail,
        )
    job = disaster_mode.disaster_mode_start(
        sites=sorted({ap.site for ap in todo}, key=lambda s: s.pk),
        on=True,
        requested_by=None,
        drill=disaster.is_exercise,
    )
    detail["job"] = str(job.pk)
    return Outcome(
        f"switching {len(todo)} APs at {len(sites)} shelter sites to 00000JAPAN "
        f"(job {str(job.pk)[:8]})",
        detail,
    )


def _ended(disaster: Disaster) -> Outcome:
    others = emergency_selectors.disasters_active().exclude(pk=disaster.pk)
    if others.exists():
        return Outcome(
            f"00000JAPAN stays on: {others.first()} is still active", {"aps": 0, "kept": True}
        )
    busy = selectors.ap_ids_busy()
    aps = _switchable(list(disaster_mode.aps_to_restore().select_related("site")))
    waiting = [ap for ap in aps if ap.pk in busy]
    todo = [ap for ap in aps if ap.pk not in busy]
    detail: dict[str, object] = {"aps": len(todo), "waiting": len(waiting)}
    summary = "every AP is in normal mode: nothing to restore"
    if todo:
        job = disaster_mode.disaster_mode_start(
            sites=sorted({ap.site for ap in todo}, key=lambda s: s.pk),
            on=False,
            requested_by=None,
        )
        detail["job"] = str(job.pk)
        summary = f"restoring the normal Wi-Fi of {len(todo)} APs (job {str(job.pk)[:8]})"
    if waiting:
        raise StillSwitching(
            f"{summary}; {len(waiting)} APs are still being switched: retry when they finish"
        )
    return Outcome(summary, detail)
