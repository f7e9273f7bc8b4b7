"""Registration by an empty e-mail (空メール登録), as Japanese cities' mail services offer it.

A resident sends an empty mail to the registration address (``MACHI_NOTIFY_REGISTER_ADDRESS``,
printed on posters as a ``mailto:`` QR code); the city's mail server pipes it to
``machi notify_register``. The sender gets the usual confirmation mail: the address is only
used once its owner has opened the link (a forged From gets nothing but one mail to the real
owner), and then chooses topics and areas on the manage page. Until then the subscription
holds the emergency topics. A subject of "en" or "English" asks for English.

Mail loops and floods are refused: automatic mail (Auto-Submitted, Precedence bulk/list,
bounces from MAILER-DAEMON), mail from the city's own address, and more than
``REGISTER_PER_HOUR`` requests per address and hour.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings

from machi.core import ratelimit
from machi.notify import conf, services

REGISTER_PER_HOUR = 3
RATE_SCOPE = "notify-empty-mail"
AUTOMATIC_SENDERS = ("mailer-daemon", "postmaster", "noreply", "no-reply")


@dataclass(frozen=True)
class Outcome:
    kind: str  # "registered", "ignored", "refused"
    detail: str = ""


def register_address() -> str:
    return str(getattr(settings, "MACHI_NOTIFY_REGISTER_ADDRESS", "") or "")


def register_by_mail(raw: bytes) -> Outcome:
    """Act on one mail sent to the registration address."""
    if len(raw) > 1_000_000:
        return Outcome("ignored", "too large")
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    if auto != "no" or precedence in {"bulk", "list", "junk"}:
        return Outcome("ignored", "automatic mail")
    _name, sender = parseaddr(str(message.get("Reply-To") or message.get("From") or ""))
    local = sender.partition("@")[0].lower()
    own = {parseaddr(conf.email_from())[1].lower(), register_address().lower()}
    if not sender or local.startswith(AUTOMATIC_SENDERS) or sender.lower() in own:
        return Outcome("ignored", "no sender to answer")
    try:
        address = services.email_normalise(sender)
    except services.NotifyError:
        return Outcome("ignored", "not a valid sender address")
    if not ratelimit.hit(RATE_SCOPE, address.lower(), limit=REGISTER_PER_HOUR, window=3600):
        return Outcome("refused", "too many requests from this address this hour")
    subject = str(message.get("Subject", "")).strip().lower()
    language = "en" if subject in {"en", "english"} else "ja"
    choices = services.Choices(topics=services.default_topics(), language=language)
    if not choices.topics:
        choices = services.Choices(language=language, emergency_only=True)
    try:
        services.subscribe_email(address=address, choices=choices, source="empty-mail")
    except services.NotifyError as exc:
        return Outcome("refused", str(exc))
    return Outcome("registered", "confirmation mail sent")
