"""The notify room's settings, with their defaults (settings.py may leave any of them out)."""

from __future__ import annotations

from django.conf import settings


def _get(name: str, default: object) -> object:
    return getattr(settings, name, default)


def site_url() -> str:
    """The public address of Machi, for links in messages (no trailing slash)."""
    return str(_get("MACHI_PUBLIC_URL", "http://127.0.0.1:8000")).rstrip("/")


def rate(channel: str) -> float:
    """Sends per second per worker for a channel (0: unlimited)."""
    rates = dict(_get("MACHI_NOTIFY_RATES", {}))  # type: ignore[call-overload]
    return float(rates.get(channel, 0))


def email_connections() -> int:
    return int(_get("MACHI_NOTIFY_EMAIL_CONNECTIONS", 8))  # type: ignore[call-overload]


def email_from() -> str:
    return str(_get("MACHI_NOTIFY_EMAIL_FROM", "") or settings.DEFAULT_FROM_EMAIL)


def push_concurrency() -> int:
    return int(_get("MACHI_NOTIFY_PUSH_CONCURRENCY", 64))  # type: ignore[call-overload]


def vapid_private_key() -> str:
    """PEM or base64url raw P-256 private key; empty: one is made and kept in DATA_DIR."""
    return str(_get("MACHI_NOTIFY_VAPID_PRIVATE_KEY", ""))


def vapid_subject() -> str:
    return str(_get("MACHI_NOTIFY_VAPID_SUBJECT", "") or f"mailto:{email_from()}")


def line_api_url() -> str:
    return str(_get("MACHI_LINE_API_URL", "https://api.line.me")).rstrip("/")


def line_channel_token() -> str:
    return str(_get("MACHI_LINE_CHANNEL_TOKEN", ""))


def line_channel_secret() -> str:
    return str(_get("MACHI_LINE_CHANNEL_SECRET", ""))


def line_friend_url() -> str:
    """The LINE official account's add-friend link (shown as a QR code)."""
    return str(_get("MACHI_LINE_FRIEND_URL", ""))


def require_approval() -> bool:
    """Non-emergency broadcasts need a second person's approval."""
    return bool(_get("MACHI_NOTIFY_REQUIRE_APPROVAL", True))


def lease_seconds() -> int:
    """A claimed delivery not finished after this is sent again (its worker died)."""
    return int(_get("MACHI_NOTIFY_LEASE_SECONDS", 60))  # type: ignore[call-overload]


def max_attempts() -> int:
    return int(_get("MACHI_NOTIFY_MAX_ATTEMPTS", 10))  # type: ignore[call-overload]


def batch_size() -> int:
    """Deliveries claimed at once by a worker."""
    return int(_get("MACHI_NOTIFY_BATCH", 1000))  # type: ignore[call-overload]
