"""What every identity plugin gives: an ``Identity``, kept in the resident's session (e-mail,
OpenID Connect) or established by the signed application itself (JPKI).

Levels are ordered: a procedure asking for a verified e-mail also takes an OpenID Connect
login or a signature; one asking for a signature takes nothing less.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from django.core import signing
from django.http import HttpRequest
from django.utils import timezone

LEVEL_RANK = {"email": 1, "oidc": 2, "jpki": 3}
SESSION_KEY = "procedures_identity"
TOKEN_SALT = "machi.procedures.identity"  # noqa: S105 - a namespace, not a secret
# A resident's API token (from the e-mail check) lasts this long.
TOKEN_MAX_AGE = 2 * 3600


@dataclass(frozen=True)
class Identity:
    level: str  # "email", "oidc", "jpki" (or "counter" for staff who saw the person)
    identifier: str  # the address, "issuer|subject", the certificate's serial number
    name: str = ""
    email: str = ""
    address: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Identity | None:
        if not data or not data.get("level") or not data.get("identifier"):
            return None
        return cls(
            level=str(data["level"]),
            identifier=str(data["identifier"]),
            name=str(data.get("name", "")),
            email=str(data.get("email", "")),
            address=str(data.get("address", "")),
        )


def satisfies(identity: Identity | None, required: str) -> bool:
    """Whether ``identity`` is strong enough for a procedure asking for ``required``."""
    if identity is None:
        return False
    return LEVEL_RANK.get(identity.level, 0) >= LEVEL_RANK.get(required, 99)


def session_identity(request: HttpRequest) -> Identity | None:
    return Identity.from_dict(request.session.get(SESSION_KEY))


def session_remember(request: HttpRequest, identity: Identity) -> None:
    """Sign the resident in for procedures (a new session key: no fixation)."""
    request.session.cycle_key()
    request.session[SESSION_KEY] = {**identity.as_dict(), "at": timezone.now().isoformat()}


def session_forget(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)


def token_for(identity: Identity) -> str:
    """A bearer token for the resident API (``Authorization: Bearer r.<token>``)."""
    return "r." + signing.dumps(identity.as_dict(), salt=TOKEN_SALT, compress=True)


def identity_from_token(token: str) -> Identity | None:
    if not token.startswith("r."):
        return None
    try:
        data = signing.loads(token[2:], salt=TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    return Identity.from_dict(data)


def signing_payload(*, procedure: str, answers: Mapping[str, Any], delivery: str) -> bytes:
    """The exact bytes a JPKI-style signature covers: the application as canonical JSON
    (keys sorted, no spaces, UTF-8). The portal offers them to download; the API rebuilds
    them from the request to check a detached signature."""
    return json.dumps(
        {"procedure": procedure, "answers": dict(answers), "delivery": delivery},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
