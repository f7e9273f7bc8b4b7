"""Secrets are stored encrypted, read back with the key, and refused with another."""

from typing import Any

import pytest

from machi.core import crypto


def test_round_trip_and_no_plain_text(settings: Any) -> None:
    stored = crypto.encrypt("ap-password-123")
    assert stored.startswith(crypto.PREFIX)
    assert "ap-password-123" not in stored
    assert crypto.decrypt(stored) == "ap-password-123"
    assert crypto.encrypt("") == ""
    assert crypto.decrypt("") == ""


def test_keys_rotate_and_a_wrong_key_is_refused(settings: Any) -> None:
    settings.MACHI_ENCRYPTION_KEY = "old-key"
    stored = crypto.encrypt("secret")
    settings.MACHI_ENCRYPTION_KEY = "new-key,old-key"
    assert crypto.decrypt(stored) == "secret"
    settings.MACHI_ENCRYPTION_KEY = "another-key"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(stored)
