"""The shelters room's answer to a declaration: propose (or open) the suitable shelters."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from machi.emergency.models import Disaster, ResponderEvent
from machi.emergency.responders import Outcome
from machi.shelters import services
from machi.shelters.models import OpeningStatus


def respond(disaster: Disaster, event: str) -> Outcome:
    if event == ResponderEvent.ENDED:
        closed = services.openings_close_for(disaster=disaster)
        return Outcome(f"closed {closed} shelters", {"closed": closed})
    openings = services.openings_propose(disaster=disaster)
    opened = sum(1 for o in openings if o.status in {OpeningStatus.OPEN, OpeningStatus.FULL})
    preparing = sum(1 for o in openings if o.status == OpeningStatus.PREPARING)
    return Outcome(
        f"{len(openings)} suitable shelters: {opened} open, {preparing} awaiting HQ",
        {"proposed": [o.shelter_id for o in openings], "open": opened, "preparing": preparing},
    )


# --- What other rooms do when a shelter opens -----------------------------------------------------
# ``MACHI_OPENING_RESPONDERS`` lists functions ``respond(opening) -> Outcome`` (the notifications
# room's tells the area's residents). Each runs as a task after the opening commits, must be
# idempotent, and its outcome goes to the chronology.


def opening_responders() -> list[str]:
    from django.conf import settings

    return list(getattr(settings, "MACHI_OPENING_RESPONDERS", []))


def execute_opening(opening_id: int, path: str) -> Outcome:
    from machi.emergency.responders import call_and_record
    from machi.shelters.models import Opening

    opening = Opening.objects.select_related("shelter__facility", "disaster").get(pk=opening_id)
    return call_and_record(
        path,
        opening,
        disaster=opening.disaster,
        record=opening,
        request_id=f"opening-{opening_id}",
    )


@db_task(retries=2, retry_delay=10)
def run_opening_responder(opening_id: int, path: str) -> None:
    execute_opening(opening_id, path)
