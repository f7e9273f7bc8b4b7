"""Secrets kept in the database encrypted (access points' credentials, SSID keys).

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) with a key derived by HKDF from
``MACHI_ENCRYPTION_KEY`` when set, else from the secret key: a database dump alone does not
reveal them. Several keys may be given (comma-separated, newest first) so that a key can be
rotated: values are decrypted with any of them and encrypted with the first.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PREFIX = "enc1:"


class DecryptionError(ValueError):
    """A stored secret cannot be read with the configured keys."""


def _derive(secret: str) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"machi-secrets", info=b"fernet").derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(key)


@functools.cache
def _fernet(configured: str) -> MultiFernet:
    secrets = [s.strip() for s in configured.split(",") if s.strip()]
    return MultiFernet([Fernet(_derive(s)) for s in secrets])


def _current() -> MultiFernet:
    return _fernet(getattr(settings, "MACHI_ENCRYPTION_KEY", "") or settings.SECRET_KEY)


def encrypt(plain: str) -> str:
    """Ciphertext to store (text), or "" for an empty secret."""
    if not plain:
        return ""
    return PREFIX + _current().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt(stored: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        raise DecryptionError("not an encrypted value")
    try:
        return _current().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise DecryptionError("the encryption key has changed or the value is damaged") from exc
