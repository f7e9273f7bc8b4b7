"""API of the guide room: ask the FAQ assistant, and say whether the answer helped.

No `from __future__ import annotations`: django-ninja reads the annotations at import.
"""

from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status
from ninja.throttling import BaseThrottle

from machi.core import problems, ratelimit
from machi.core.api import Id
from machi.core.middleware import client_ip
from machi.guide import services

router = Router(tags=["guide"])


class _AskThrottle(BaseThrottle):
    """Per network address and minute (high: a shelter's 00000JAPAN is one address)."""

    def allow_request(self, request: HttpRequest) -> bool:
        return services.ask_allowed(client_ip(request) or "")

    def wait(self) -> float | None:
        return float(ratelimit.seconds_left(60))


class AskIn(Schema):
    question: Annotated[str, Field(min_length=1, max_length=500)]
    language: Literal["", "ja", "en"] = ""


class EntryOut(Schema):
    id: int
    question: str
    answer: str
    category: str
    department: str
    url: str


class OpenShelterOut(Schema):
    name: str
    address: str
    crowding: str = Field(description="open / crowded / full, as the shelter reports it")


class AskOut(Schema):
    question_id: int
    token: str = Field(description="Send it back with the feedback (only the asker can).")
    answers: list[EntryOut] = Field(description="The best answer first, then two others.")
    confidence: float
    low_confidence: bool = Field(description="Shown as 'maybe'; staff will look at it.")
    disaster: str = Field("", description="The declared disaster, if any.")
    shelters_open: list[OpenShelterOut] = []


class FeedbackIn(Schema):
    question_id: Id
    token: Annotated[str, Field(max_length=64)]
    resolved: bool


def answer_out(answer: services.Answer) -> dict[str, Any]:
    return {
        "question_id": answer.question.pk,
        "token": answer.question.token,
        "answers": [
            {
                "id": e.pk,
                "question": e.question,
                "answer": e.answer,
                "category": e.category,
                "department": e.department,
                "url": e.url,
            }
            for e in answer.entries
        ],
        "confidence": round(answer.confidence, 3),
        "low_confidence": answer.low_confidence,
        "disaster": answer.disaster.name if answer.disaster else "",
        "shelters_open": [
            {"name": s.name, "address": s.address, "crowding": s.crowding} for s in answer.shelters
        ],
    }


@router.post(
    "/guide/ask",
    response=AskOut,
    url_name="guide_ask",
    auth=None,
    throttle=[_AskThrottle()],
    summary="Ask the FAQ assistant (Japanese or English); no sign-in",
)
def ask(request: HttpRequest, payload: AskIn) -> dict[str, Any]:
    if not payload.question.strip():
        raise problems.invalid("question", "ask a question")
    return answer_out(services.ask(payload.question, language=payload.language))


@router.post(
    "/guide/feedback",
    response={204: None},
    url_name="guide_feedback",
    auth=None,
    throttle=[_AskThrottle()],
    summary="「解決した」 or 「解決しなかった」 for an answer (not solved: staff look at it)",
)
def feedback(request: HttpRequest, payload: FeedbackIn) -> Status[None]:
    done = services.feedback(
        question_id=payload.question_id, token=payload.token, resolved=payload.resolved
    )
    if done is None:
        raise problems.invalid("token", "no such question for this token")
    return Status(204, None)
