"""The LINE webhook: friends of the city's official account become LINE subscribers.

LINE POSTs events signed with the channel secret (``X-Line-Signature``: base64 HMAC-SHA256 of
the raw body). A ``follow`` (friend added, or unblocked) subscribes the user and answers with a
welcome message holding the manage link; an ``unfollow`` (blocked) ends the subscription, since
LINE no longer delivers to that user. Other events (messages, postbacks …) are not used yet.

``line_reply`` answers a reply token synchronously; the services module calls it for the
welcome message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import urllib.error
import urllib.request
from typing import Any, Final

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

# services imports line_reply from here inside a function: no import cycle.
from machi.notify import conf, services

logger = logging.getLogger(__name__)

USER_ID: Final = re.compile(r"U[0-9a-f]{32}")
REPLY_TIMEOUT: Final = 5.0
MAX_TEXT: Final = 5000


def _valid_signature(secret: str, body: bytes, given: str) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    # compare_digest: no timing hint of how much of a forged signature was right.
    return bool(given) and hmac.compare_digest(given.encode(), expected)


def _user(event: dict[str, Any]) -> str:
    source = event.get("source")
    user = source.get("userId") if isinstance(source, dict) else None
    return user if isinstance(user, str) and USER_ID.fullmatch(user) else ""


@csrf_exempt  # LINE cannot send a CSRF token: the signature authenticates the request
@require_POST
def line_webhook(request: HttpRequest) -> HttpResponse:
    secret = conf.line_channel_secret()
    if not secret:
        # No LINE channel here: the endpoint does not exist, rather than refusing everyone.
        return HttpResponse(status=404)
    signature = request.headers.get("X-Line-Signature", "")
    body = request.body
    if not _valid_signature(secret, body, signature):
        return HttpResponse(status=403)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return HttpResponse(status=400)
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        return HttpResponse(status=400)

    failed = False
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind not in ("follow", "unfollow"):
            continue
        user = _user(event)
        if not user:
            logger.warning("LINE %s event without a user id (group or room source?)", kind)
            continue
        try:
            if kind == "follow":
                token = event.get("replyToken")
                services.line_follow(
                    user_id=user, reply_token=token if isinstance(token, str) else ""
                )
            else:
                services.line_unfollow(user_id=user)
        except Exception:
            # The other events still count; a 500 lets LINE redeliver (when the channel has
            # webhook redelivery on), and follow/unfollow are idempotent.
            logger.exception("LINE %s event failed", kind)
            failed = True
    return HttpResponse(status=500 if failed else 200)


def line_reply(*, reply_token: str, text: str) -> bool:
    """Answer a webhook event with one text message. False (and a log line) on any failure."""
    token = conf.line_channel_token()
    if not token or not reply_token or not text:
        logger.warning("LINE reply not sent: %s", "no token" if not token else "nothing to send")
        return False
    url = f"{conf.line_api_url()}/v2/bot/message/reply"
    if not url.startswith(("https://", "http://")):
        logger.error("LINE reply not sent: MACHI_LINE_API_URL is not an http(s) URL")
        return False
    body = json.dumps(
        {"replyToken": reply_token, "messages": [{"type": "text", "text": text[:MAX_TEXT]}]}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=REPLY_TIMEOUT) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message", "")
        except (ValueError, AttributeError, OSError):
            message = ""
        logger.warning("LINE reply refused (HTTP %s): %s", exc.code, message)
        return False
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections
        logger.warning("LINE reply failed: %s", exc)
        return False
    return True
