"""The shelters room's answer to a declaration: propose (or open) the suitable shelters."""

from __future__ import annotations

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
