"""Settings for the test suite: the production settings with fast hashing and eager tasks."""

import os
import tempfile

os.environ.setdefault("MACHI_DATA_DIR", tempfile.mkdtemp(prefix="machi-test-"))
os.environ.setdefault("MACHI_SECRET_KEY", "test-only-secret-key-that-is-long-enough-0123456789")

from machi.config.settings import *  # noqa: F403
from machi.config.settings import CACHES, HUEY

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
HUEY = {**HUEY, "immediate": True}
if "RedisCache" not in CACHES["default"]["BACKEND"]:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "ratelimit",
        },
    }
# Test isolation empties tables between tests, which the audit log's triggers would refuse;
# tests/core/test_audit.py installs the triggers in a transaction to prove they work.
MACHI_AUDIT_DB_TRIGGERS = False
MACHI_JMA_POLL = False  # the suite never reaches for the network
