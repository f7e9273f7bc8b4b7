"""Mails to the applicant: the receipt of an application, and each change of its status.

They are sent through the notify room (``notify.services.send_direct``: the notify SMTP server,
and no mail to an address notify stopped after a bounce or a complaint) by a Huey task that
tries again, with a growing delay, when the server cannot take the mail now. Only ids travel
through the queue; the task reads the application and writes the text, so no address waits
in the queue's storage and a retry sends the same mail (the same Message-ID).

The texts are built in (gettext). A city rewrites them with a notify template whose
"automatic for" event is ``procedures.status`` (or ``procedures.receipt``), using the
placeholders ((reference)), ((procedure)), ((status)), ((message)) and ((link)); the English
subject and body are used for applicants who read English.

The applicant's language is not stored with the application: it is English when the address
is subscribed to the city's notifications in English, Japanese otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils import translation
from django.utils.translation import gettext as _
from huey.contrib.djhuey import db_task

from machi.core import context
from machi.procedures.models import Application, Status, StatusEntry

logger = logging.getLogger(__name__)

STATUS_EVENT = "procedures.status"
RECEIPT_EVENT = "procedures.receipt"
# A few attempts over about an hour: 2, 4, 8, 16, 32 minutes after the first.
ATTEMPTS = 5
FIRST_DELAY = 120
BACKOFF = 2.0


@dataclass(frozen=True)
class Notice:
    subject: str
    body: str
    language: str


def status_changed(entry: StatusEntry) -> None:
    """After a status change is committed: queue the mail that tells the applicant."""
    if entry.status == Status.RECEIVED:
        return  # the receipt says it
    _queue(entry.application, STATUS_EVENT, entry.pk)


def receipt_sent(application: Application) -> None:
    """After a submission is committed: queue the receipt (受け付けました, with the reference)."""
    _queue(application, RECEIPT_EVENT, None)


def _queue(application: Application, event: str, entry_id: int | None) -> None:
    if not application.applicant_email or application.anonymised_at is not None:
        return
    try:
        notice_send(str(application.pk), event, entry_id)
    except Exception:  # the queue unreachable: the change stands; the applicant can look it up
        logger.exception("could not queue the %s mail of %s", event, application.reference)


@db_task(retries=ATTEMPTS, retry_delay=FIRST_DELAY, retry_backoff=BACKOFF)
def notice_send(application_id: str, event: str, entry_id: int | None) -> None:
    """Send one notice. A temporary SMTP failure raises, and Huey tries again later."""
    with context.acting(channel="task"):
        _send(application_id, event, entry_id)


def _send(application_id: str, event: str, entry_id: int | None) -> None:
    from machi.notify import services as notify

    application = Application.objects.select_related("procedure").filter(pk=application_id).first()
    if application is None or not application.applicant_email or application.anonymised_at:
        return
    entry = None
    if entry_id is not None:
        entry = StatusEntry.objects.filter(pk=entry_id, application=application).first()
        if entry is None:
            return
    notice = notice_text(application, entry)
    key = f"procedures.{application.reference}.{entry.pk if entry else 'receipt'}"
    try:
        notify.send_direct(
            address=application.applicant_email,
            subject=notice.subject,
            body=notice.body,
            language=notice.language,
            kind=event,
            key=key,
        )
    except notify.NotifyError as exc:  # refused for good: trying again changes nothing
        logger.info("%s mail of %s not sent: %s", event, application.reference, exc)


# --- The text ------------------------------------------------------------------------------------


def applicant_language(address: str) -> str:
    """English for an address subscribed to the city's notifications in English, else ja."""
    from machi.notify import services as notify
    from machi.notify.models import Channel, Subscriber

    try:
        key = notify.address_key(Channel.EMAIL, notify.email_normalise(address))
    except notify.NotifyError:
        return "ja"
    language = Subscriber.objects.filter(address_key=key).values_list("language", flat=True)
    return "en" if language.first() == "en" else "ja"


def status_link(application: Application) -> str:
    """The applicant's status page (with its secret key), absolute: the mail is read outside."""
    from machi.notify import conf
    from machi.procedures import services

    return conf.site_url() + services.status_path(application)


def notice_text(application: Application, entry: StatusEntry | None) -> Notice:
    """Subject and body of the receipt (``entry`` None) or of a status change, in the
    applicant's language: the city's notify template for the event if it has one, else the
    built-in text."""
    from machi.notify import services as notify

    language = applicant_language(application.applicant_email)
    template = notify.template_for_event(RECEIPT_EVENT if entry is None else STATUS_EVENT)
    if template is not None and language == "en" and not (template.subject_en and template.body_en):
        language = "ja"  # the city wrote it in Japanese only: one language, not a mix
    procedure = application.procedure
    with translation.override(language):
        values = {
            "reference": application.reference,
            "procedure": procedure.name_en if language == "en" and procedure.name_en else "",
            "status": str(Status(entry.status if entry else Status.RECEIVED).label),
            "message": entry.message.strip() if entry else "",
            "link": status_link(application),
        }
        values["procedure"] = values["procedure"] or procedure.name
        if template is not None:
            try:
                text = notify.template_render(template, values, strict=False)
            except notify.NotifyError:
                logger.warning("template %s has an unknown placeholder: built-in text", template)
            else:
                if language == "en":
                    return Notice(text.subject_en, text.body_en, language)
                return Notice(text.subject, text.body, language)
        if entry is None:
            return Notice(*_receipt(values), language)
        return Notice(*_status(values), language)


def _receipt(values: dict[str, str]) -> tuple[str, str]:
    subject = _("Your application has been received (%(reference)s)") % values
    body = (
        _(
            "We have received your application.\n\n"
            "Reference: %(reference)s\n"
            "Procedure: %(procedure)s\n\n"
            "Keep the reference: you need it to ask about your application."
        )
        % values
    )
    return subject, body + _footer(values)


def _status(values: dict[str, str]) -> tuple[str, str]:
    subject = _("Your application %(reference)s: %(status)s") % values
    body = (
        _(
            "The status of your application has changed.\n\n"
            "Reference: %(reference)s\n"
            "Procedure: %(procedure)s\n"
            "Status: %(status)s"
        )
        % values
    )
    if values["message"].strip():
        body += "\n\n" + _("Message from the city:") + "\n" + values["message"].strip()
    return subject, body + _footer(values)


def _footer(values: dict[str, str]) -> str:
    return (
        "\n\n"
        + _("You can follow your application here:\n%(link)s") % values
        + "\n\n"
        + _("This mail was sent automatically; replies are not read.")
    )
