"""Answering residents: the search index of the published entries, kept fresh in each process;
a question answered with the best entry and two alternatives; in a declared disaster, the
shelters open now; feedback; the staff queue of what the chat could not answer."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone

from machi.core.models import User
from machi.guide import engine
from machi.guide.models import Entry, Feedback, Mode, Question

logger = logging.getLogger(__name__)

# Below this confidence the best answer is shown as "maybe" and the question goes to staff.
LOW_CONFIDENCE = float(getattr(settings, "MACHI_GUIDE_LOW_CONFIDENCE", 0.35))
CHECK_SECONDS = 5.0  # how often a process looks whether the entries changed
# Rebuild a changed index in a background thread while the old one answers (tests: inline).
BACKGROUND = True


class _Current:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.index: engine.Index | None = None
        self.stamp: tuple[int, Any] | None = None
        self.checked = 0.0
        self.building = False


_current = _Current()


def _stamp() -> tuple[int, Any]:
    found = Entry.objects.filter(published=True).aggregate(n=Count("pk"), at=Max("changed_at"))
    return found["n"], found["at"]


def docs() -> list[engine.Doc]:
    return [
        engine.Doc(
            id=str(entry.pk),
            question=entry.question,
            answer=entry.answer,
            language=entry.language,
            disaster=entry.mode == Mode.DISASTER,
            category=entry.category,
            url=entry.url,
        )
        for entry in Entry.objects.filter(published=True).order_by("pk")
    ]


def index_path() -> Path:
    return Path(settings.DATA_DIR) / "guide-index.npz"


def current_index() -> engine.Index:
    """The index of the published entries: loaded from the data folder when it matches them,
    else built (and saved for the other processes). Checked every few seconds. When entries
    change while an index is being served, the new one is built in a background thread and
    the old one answers meanwhile (a build takes seconds)."""
    now = time.monotonic()
    if _current.index is not None and now - _current.checked < CHECK_SECONDS:
        return _current.index
    with _current.lock:
        stamp = _stamp()
        _current.checked = now
        if _current.index is not None and stamp == _current.stamp:
            return _current.index
        if _current.index is not None and BACKGROUND:
            if not _current.building:
                _current.building = True
                threading.Thread(
                    target=_rebuild, args=(stamp,), daemon=True, name="guide-index"
                ).start()
            return _current.index
        _current.index, _current.stamp = _load_or_build(), stamp
        return _current.index


def _rebuild(stamp: tuple[int, Any]) -> None:
    from django.db import close_old_connections

    try:
        index = _load_or_build()
        with _current.lock:
            _current.index, _current.stamp = index, stamp
    except Exception:
        logger.exception("the guide index could not be rebuilt: the old one still answers")
    finally:
        _current.building = False
        close_old_connections()


def _load_or_build() -> engine.Index:
    found = docs()
    wanted = engine.fingerprint(found)
    path = index_path()
    if path.exists():
        try:
            index = engine.Index.load(path)
        except (OSError, ValueError, KeyError):
            logger.warning("the saved guide index could not be read: rebuilding")
        else:
            if index.fingerprint == wanted:
                return index
    index = engine.Index.build(found)
    try:
        tmp = path.with_suffix(".tmp.npz")
        index.save(tmp)
        tmp.replace(path)
    except OSError:
        logger.warning("the guide index could not be saved in %s", path)
    return index


def forget_index() -> None:
    with _current.lock:
        _current.index, _current.stamp = None, None


@dataclass
class Answer:
    question: Question
    entries: list[Entry]
    confidence: float
    low_confidence: bool
    disaster: Any = None
    shelters: list[Any] = field(default_factory=list)


def ask_allowed(address: str) -> bool:
    """Count a question from this network address; False past the per-minute limit (high: a
    shelter's 00000JAPAN puts many residents behind one address)."""
    from machi.core import ratelimit

    return ratelimit.hit(
        "guide-ask-ip",
        address or "?",
        limit=int(getattr(settings, "MACHI_GUIDE_RATE_LIMIT", 300)),
        window=60,
        alias="ratelimit",
    )


def ask(text: str, *, language: str = "") -> Answer:
    """Answer one question: the best entry and two alternatives, logged without who asked."""
    from machi.emergency.selectors import disaster_current
    from machi.shelters.selectors import public_status

    text = " ".join(text.split())[:500]
    disaster = disaster_current()
    hits = current_index().search(
        text, k=3, language=language or None, disaster_mode=disaster is not None
    )
    by_id = Entry.objects.in_bulk([int(hit.id) for hit in hits])
    entries = [by_id[int(hit.id)] for hit in hits if int(hit.id) in by_id]
    confidence = hits[0].confidence if hits else 0.0
    low = confidence < LOW_CONFIDENCE or not entries
    question = Question.objects.create(
        text=text,
        language=language or ("en" if text.isascii() else "ja"),
        top=entries[0] if entries else None,
        confidence=confidence,
        low_confidence=low,
        disaster=disaster is not None,
        token=secrets.token_hex(16),
    )
    shelters = public_status(disaster) if disaster is not None else []
    return Answer(question, entries, confidence, low, disaster, shelters)


def feedback(*, question_id: int, token: str, resolved: bool) -> Question | None:
    """「解決した」/「解決しなかった」 from the browser that asked (it holds the token)."""
    question = Question.objects.filter(pk=question_id).first()
    if question is None or not token or not secrets.compare_digest(question.token, token):
        return None
    question.feedback = Feedback.RESOLVED if resolved else Feedback.UNRESOLVED
    question.save(update_fields=["feedback"])
    return question


def to_review() -> Any:
    """The staff queue: low-confidence questions and those residents said were not solved."""
    return (
        Question.objects.filter(reviewed_at__isnull=True)
        .filter(Q(low_confidence=True) | Q(feedback=Feedback.UNRESOLVED))
        .select_related("top")
    )


def review(*, question: Question, by: User | None) -> None:
    question.reviewed_at, question.reviewed_by = timezone.now(), by
    question.save(update_fields=["reviewed_at", "reviewed_by"])


def unanswered_summary(*, days: int = 30, limit: int = 50) -> list[dict[str, Any]]:
    """What residents asked that the chat could not answer well, most asked first (the same
    words counted together): what to write next."""
    since = timezone.now() - dt.timedelta(days=days)
    rows = (
        Question.objects.filter(asked_at__gte=since)
        .filter(Q(low_confidence=True) | Q(feedback=Feedback.UNRESOLVED))
        .values("text")
        .annotate(n=Count("pk"), last=Max("asked_at"))
        .order_by("-n", "-last")[:limit]
    )
    return list(rows)
