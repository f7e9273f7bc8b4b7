"""Identity by a verified e-mail address: a six-digit code sent to the address, typed back.

The code is kept hashed in the cache for 15 minutes and allows five tries; a new code
replaces the old one. The lowest identity level: enough for a bulky-waste collection, not for
a certificate.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.core.cache import cache
from django.utils import translation
from django.utils.translation import gettext as _

from machi.procedures.identity.base import Identity
from machi.procedures.services import ProcedureError

CODE_SECONDS = 15 * 60
MAX_TRIES = 5


def normalise(address: str) -> str:
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or len(address) > 254 or " " in address:
        raise ProcedureError(_("Enter an e-mail address like name@example.jp."), field="email")
    return f"{local}@{domain.lower()}"


def _key(address: str) -> str:
    return "proc-email:" + hashlib.sha256(address.encode()).hexdigest()


def _digest(address: str, code: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{address}|{code}".encode(), "sha256").hexdigest()


def code_send(address: str) -> str:
    """Send a new code to ``address`` (normalised, returned). Raises ProcedureError."""
    from machi.notify import services as notify_services

    address = normalise(address)
    code = f"{secrets.randbelow(1_000_000):06d}"
    cache.set(_key(address), {"digest": _digest(address, code), "tries": 0}, CODE_SECONDS)
    language = translation.get_language() or "ja"
    subject = _("Your confirmation code for the city's online procedures")
    body = _(
        "Your confirmation code is %(code)s.\n"
        "Type it on the page where you asked for it, within 15 minutes.\n\n"
        "If you did not ask for it, ignore this mail."
    ) % {"code": code}
    try:
        notify_services.send_direct(
            address=address, subject=subject, body=body, language=language, kind="procedures.code"
        )
    except Exception as exc:  # the mail server is down or refused the address
        cache.delete(_key(address))
        raise ProcedureError(
            _("The code could not be sent to this address. Check it, or try again later."),
            field="email",
        ) from exc
    return address


def code_check(address: str, code: str) -> Identity:
    """The Identity for ``address`` if ``code`` is the one sent. Raises ProcedureError."""
    address = normalise(address)
    code = "".join(ch for ch in code if ch.isdigit())
    key = _key(address)
    state = cache.get(key)
    if state is None:
        raise ProcedureError(
            _("The code has expired or was never sent. Ask for a new one."), field="code"
        )
    if state["tries"] >= MAX_TRIES:
        cache.delete(key)
        raise ProcedureError(_("Too many wrong codes. Ask for a new one."), field="code")
    if not hmac.compare_digest(state["digest"], _digest(address, code)):
        state["tries"] += 1
        cache.set(key, state, CODE_SECONDS)
        raise ProcedureError(_("This is not the code we sent. Check the mail."), field="code")
    cache.delete(key)  # one use
    return Identity(level="email", identifier=address, email=address)
