"""The notify room's answers to the emergency room and the shelters room.

Listed in settings: ``MACHI_RESPONDERS`` (a disaster declared or ended: ``respond``),
``MACHI_ORDER_RESPONDERS`` (避難情報 issued or lifted: ``order``) and
``MACHI_OPENING_RESPONDERS`` (a shelter opened: ``opening``). Each sends the city's prepared
emergency template for its event (``Template.event``) to the subscribers of the areas concerned,
at once and without a second approval (an emergency cannot wait). 避難指示 and 緊急安全確保
(levels 4 and 5) and their lifting reach every subscriber of the area, whatever the topics
they chose. A disaster declared as an exercise sends with 【訓練】 in front.

Idempotent: each broadcast carries its ``origin`` (unique), so a retried responder finds the
broadcast it made and sends nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from machi.core.hazards import Hazard
from machi.core.models import Area
from machi.emergency.responders import Outcome
from machi.notify import services
from machi.notify.models import Broadcast, BroadcastStatus, Topic

DISASTER_TOPIC = "disaster"  # 防災・気象 (the demo's and the default topics' key)
EVENTS = {
    "disaster.declared": "災害の発生（本部設置）",
    "disaster.ended": "災害対応の終了",
    "evacuation.issued": "避難情報の発令",
    "evacuation.lifted": "避難情報の解除",
    "shelter.opened": "避難所の開設",
}


def _when(moment: Any) -> str:
    local = timezone.localtime(moment or timezone.now())
    return f"{local.month}月{local.day}日 {local.hour}時{local.minute:02d}分"


def _places(areas: Sequence[Area]) -> str:
    return "、".join(a.name for a in areas) or "市内全域"


def _topics() -> list[Topic]:
    found = list(Topic.objects.filter(slug=DISASTER_TOPIC))
    return found or list(Topic.objects.filter(emergency=True))


def _send(
    *,
    event: str,
    origin: str,
    values: dict[str, str],
    areas: Sequence[Area],
    everyone: bool,
    exercise: bool,
    disaster_id: int | None,
) -> Outcome:
    existing = Broadcast.objects.filter(origin=origin).first()
    if existing is not None:
        if existing.status == BroadcastStatus.DRAFT:  # made, but the release was lost
            services.broadcast_submit(broadcast=existing, by=None)
        return Outcome(
            f"already sent ({existing.total} subscribers)", {"broadcast": str(existing.pk)}
        )
    template = services.template_for_event(event)
    if template is None:
        return Outcome(f"no template for {EVENTS.get(event, event)}: nothing sent")
    text = services.template_render(template, values, strict=False)
    if exercise:
        text = services.Text(
            subject=f"【訓練】{text.subject}",
            body=f"【訓練】{text.body}",
            subject_en=f"[Drill] {text.subject_en}" if text.subject_en else "",
            body_en=f"[Drill] {text.body_en}" if text.body_en else "",
        )
    broadcast = services.broadcast_send_now(
        text=text,
        topics=list(template.topics.all()) or _topics(),
        areas=list(areas),
        emergency=True,
        everyone=everyone,
        template=template,
        origin=origin[:64],
        disaster_id=disaster_id,
    )
    where = _places(areas)
    return Outcome(
        f"「{text.subject}」を{where}の登録者へ配信開始",
        {"broadcast": str(broadcast.pk), "areas": [a.pk for a in areas], "everyone": everyone},
    )


def respond(disaster: Any, event: str) -> Outcome:
    """A disaster declared or ended (``MACHI_RESPONDERS``)."""
    areas = list(disaster.areas.all().order_by("pk"))
    hazards = "、".join(str(Hazard(h).label) for h in disaster.hazards if h in Hazard.values)
    return _send(
        event=f"disaster.{event}",
        origin=f"disaster:{disaster.pk}:{event}",
        values={
            "災害名": disaster.name,
            "災害種別": hazards or "災害",
            "地域": _places(areas),
            "日時": _when(disaster.ended_at if event == "ended" else disaster.started_at),
        },
        areas=areas,
        everyone=False,
        exercise=disaster.is_exercise,
        disaster_id=disaster.pk,
    )


def order(order: Any, event: str, areas: Sequence[Area]) -> Outcome:
    """避難情報 issued or lifted (``MACHI_ORDER_RESPONDERS``)."""
    from machi.emergency.models import EvacuationLevel

    sequence = order.cap_messages.count()
    level = EvacuationLevel(order.level)
    names = {3: "高齢者等避難", 4: "避難指示", 5: "緊急安全確保"}
    names_en = {3: "Evacuation of the elderly", 4: "Evacuation order", 5: "Emergency safety"}
    hazard = Hazard(order.hazard)
    disaster = order.disaster
    return _send(
        event=f"evacuation.{event}",
        origin=f"evacuation:{order.pk}:{event}:{sequence}",
        values={
            "警戒レベル": str(int(level)),
            "避難情報": names.get(int(level), str(level.label)),
            "evacuation_en": names_en.get(int(level), ""),
            "災害種別": str(hazard.label),
            "hazard_en": hazard.name.replace("_", " ").lower(),
            "地域": _places(areas),
            "日時": _when(order.lifted_at if event == "lifted" else order.issued_at),
            "補足": order.note or "",
        },
        areas=areas,
        everyone=order.level >= EvacuationLevel.ORDER,
        exercise=bool(disaster and disaster.is_exercise),
        disaster_id=disaster.pk if disaster else None,
    )


def opening(opening: Any) -> Outcome:
    """A shelter opened (``MACHI_OPENING_RESPONDERS``): the disaster's areas (or the city) hear."""
    facility = opening.shelter.facility
    disaster = opening.disaster
    areas = list(disaster.areas.all().order_by("pk"))
    if areas and facility.area_id and facility.area_id not in {a.pk for a in areas}:
        areas.append(facility.area)
    stamp = int((opening.opened_at or timezone.now()).timestamp())
    return _send(
        event="shelter.opened",
        origin=f"opening:{opening.pk}:{stamp}",
        values={
            "避難所": facility.name,
            "避難所_en": facility.name_en or facility.name,
            "住所": facility.address or "",
            "地域": _places(areas),
            "日時": _when(opening.opened_at),
            "災害名": disaster.name,
        },
        areas=areas,
        everyone=False,
        exercise=disaster.is_exercise,
        disaster_id=disaster.pk,
    )
