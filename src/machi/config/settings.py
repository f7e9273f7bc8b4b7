"""Machi settings: read from environment variables only.

The defaults are safe for production (DEBUG off, secure cookies, HSTS). ``machi demo`` sets
``MACHI_DEMO=1`` for the processes it starts, which turns DEBUG on and relaxes the HTTPS-only
settings so the demo works on http://127.0.0.1.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from machi.config.paths import PACKAGE_DIR, data_dir


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key(folder: Path) -> str:
    """MACHI_SECRET_KEY, or a random key kept in the data folder (created once, mode 0600).

    Keeping it in the data folder lets a second terminal administer a running installation
    without sharing environment variables, and never ships a known key.
    """
    configured = os.environ.get("MACHI_SECRET_KEY")
    if configured:
        if len(configured) < 50:
            raise ImproperlyConfigured("MACHI_SECRET_KEY must be at least 50 characters long")
        return configured
    key_file = folder / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


DATA_DIR = data_dir()
DEMO = env_bool("MACHI_DEMO")
DEBUG = env_bool("MACHI_DEBUG", default=DEMO)
SECRET_KEY = _secret_key(DATA_DIR)
ALLOWED_HOSTS = env_list("MACHI_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("MACHI_CSRF_TRUSTED_ORIGINS", "")
# Behind a TLS-terminating reverse proxy that sets X-Forwarded-Proto.
if env_bool("MACHI_BEHIND_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

INSTALLED_APPS = [
    "machi.core.admin_config.MachiAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "huey.contrib.djhuey",
    "ninja",
    "machi.core",
    "machi.emergency",
    "machi.shelters",
    "machi.wifi",
    "machi.wifi.portal",
    "machi.notify",
    "machi.recovery",
    "machi.procedures",
    "machi.guide",
    "machi.opendata",
    "machi.insights",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "machi.core.middleware.RequestContextMiddleware",
    "machi.core.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "machi.core.middleware.StaffSessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "machi.config.urls"
WSGI_APPLICATION = "machi.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "machi.core.context_processors.machi",
                "machi.emergency.context_processors.phase",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
SQLITE_PATH = DATA_DIR / "machi.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{SQLITE_PATH}",
        conn_max_age=int(os.environ.get("MACHI_DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while one of them writes; IMMEDIATE
    # transactions avoid "database is locked" upgrades from read to write locks. Connections
    # are kept (CONN_MAX_AGE) so the PRAGMAs run once per process, not once per request.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;"
            "PRAGMA busy_timeout=5000;PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"

# --- Cache (rate limits, sessions' neighbours) -------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    _redis = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "machi",
    }
    CACHES = {"default": _redis, "ratelimit": _redis}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        },
        # API rate limits are counted on every request: in memory, per web process.
        "ratelimit": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }

# --- Background work (Huey) -------------------------------------------------------------------
HUEY: dict[str, object]
if REDIS_URL:
    HUEY = {"huey_class": "huey.RedisHuey", "name": "machi", "url": REDIS_URL, "immediate": False}
else:
    HUEY = {
        "huey_class": "machi.core.queue.SqliteHuey",
        "name": "machi",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": False,
    }
# An idle consumer looks at the queue at most every second (Huey's default backs off to 10 s):
# the JMA poll and the responders start within a second of being due.
HUEY["consumer"] = {
    "workers": int(os.environ.get("MACHI_WORKERS", "2")),
    "worker_type": "thread",
    "max_delay": 1.0,
}

# --- Authentication and sessions --------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "core:login"
LOGIN_REDIRECT_URL = "core:console"
SESSION_COOKIE_AGE = 8 * 60 * 60  # one shift: the longest a staff session lives, active or not
# A staff session also ends after this many minutes without a request (0: never).
MACHI_SESSION_IDLE_MINUTES = int(os.environ.get("MACHI_SESSION_IDLE_MINUTES", "30"))
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads it to send X-CSRFToken
SECURE_HTTPS = env_bool("MACHI_HTTPS", default=not DEMO and not DEBUG)
SESSION_COOKIE_SECURE = SECURE_HTTPS
# Over HTTPS the session cookie carries the __Host- prefix: the browser keeps it only if it is
# Secure, for path / and without a Domain, so no other host of the city's domain can set or
# shadow it (OWASP ASVS 3.4.4).
SESSION_COOKIE_NAME = "__Host-sessionid" if SECURE_HTTPS else "sessionid"
CSRF_COOKIE_SECURE = SECURE_HTTPS
LANGUAGE_COOKIE_SECURE = SECURE_HTTPS
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = SECURE_HTTPS and env_bool("MACHI_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = 31_536_000 if SECURE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The most one request may upload, all files together (core/uploads.py); nginx's
# client_max_body_size says the same in production.
MACHI_UPLOAD_MAX_MB = int(os.environ.get("MACHI_UPLOAD_MAX_MB", "25"))
FILE_UPLOAD_HANDLERS = [
    "machi.core.uploads.BodyLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# `machi check --deploy` is clean but for three choices made on purpose (tested):
SILENCED_SYSTEM_CHECKS = [
    "security.W005",  # HSTS for subdomains: a city's other hosts are not ours to force
    "security.W008",  # HTTP to HTTPS is nginx's redirect (deploy/nginx/machi.conf)
    "security.W021",  # HSTS preload is the operator's decision for the city's domain
]
# How many failed sign-ins one address or one account may make in LOGIN_RATE_WINDOW seconds.
LOGIN_RATE_LIMIT = int(os.environ.get("MACHI_LOGIN_RATE_LIMIT", "10"))
LOGIN_RATE_WINDOW = 15 * 60
# Resident self-registrations per hour and address. Everyone at a shelter on 00000JAPAN may
# share one public address: raise it there.
MACHI_REGISTER_RATE_LIMIT = int(os.environ.get("MACHI_REGISTER_RATE_LIMIT", "20"))
# API requests per minute and token (or address, without a token).
API_RATE_LIMIT = int(os.environ.get("MACHI_API_RATE_LIMIT", "600"))

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every start when it is missing
# Uploaded files (incident photos): in the data folder, served only through views that check
# access, never as public static files.
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Machi ------------------------------------------------------------------------------------
# Map tiles: 国土地理院 standard tiles unless the city runs its own tile server.
MACHI_TILE_URL = os.environ.get(
    "MACHI_TILE_URL", "https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png"
)
MACHI_TILE_ATTRIBUTION = os.environ.get(
    "MACHI_TILE_ATTRIBUTION",
    '<a href="https://maps.gsi.go.jp/development/ichiran.html">国土地理院</a>',
)

# What other rooms do when a disaster is declared or ended (see emergency/responders.py).
MACHI_RESPONDERS = [
    "machi.shelters.responders.respond",
    "machi.wifi.responders.respond",
    "machi.notify.responders.respond",
]
# What `machi demo` loads after the demo city, room by room (each returns a line to print).
MACHI_DEMO_LOADERS = [
    "machi.shelters.demo.load_demo_shelters",
    "machi.emergency.services_field.load_demo_field",
    "machi.emergency.demo.load_demo_emergency",
    "machi.wifi.demo.load_demo_wifi",
    "machi.wifi.portal.demo.load_demo_portal",
    "machi.notify.demo.load_demo_notify",
    "machi.procedures.catalogue.load_demo_procedures",
    "machi.procedures.demo.load_demo_pki",
    "machi.guide.demo.load_demo_guide",
    "machi.opendata.demo.load_demo_opendata",
    "machi.insights.demo.load_demo_insights",
]
# Processes `machi demo` runs beside web and worker, room by room (each returns {name: argv}).
MACHI_DEMO_PROCESSES = [
    "machi.wifi.demo.demo_processes",
    "machi.notify.demo.demo_processes",
    "machi.procedures.demo.demo_processes",
]
# Where the disaster banner sends residents (the public shelter status page).
MACHI_PHASE_LINK = "/shelters/status/"
# Open every suitable shelter at once on a declaration, instead of proposing them to HQ.
MACHI_SHELTERS_OPEN_ON_DECLARE = env_bool("MACHI_SHELTERS_OPEN_ON_DECLARE")
# What other rooms do when HQ issues or lifts 避難情報 (see emergency/responders.py).
MACHI_ORDER_RESPONDERS: list[str] = ["machi.notify.responders.order"]
# What other rooms do when a shelter opens (see shelters/services.py, opening_open).
MACHI_OPENING_RESPONDERS: list[str] = ["machi.notify.responders.opening"]
# The CAP <sender> of the city's alerts (default: machi.<団体コード>.lg.jp).
MACHI_CAP_SENDER = os.environ.get("MACHI_CAP_SENDER", "")
# JMA XML: the Atom feeds polled once a minute by the worker (JMA asks for one poller per
# installation and conditional requests). Off in the demo: it runs on closed networks too.
MACHI_JMA_POLL = env_bool("MACHI_JMA_POLL", default=not DEMO)
MACHI_JMA_FEED_URLS = env_list(
    "MACHI_JMA_FEED_URLS", "https://www.data.jma.go.jp/developer/xml/feed/extra.xml"
)
# Apply JMA training and test messages (訓練/試験) to the warnings in force (for exercises).
MACHI_JMA_ACCEPT_TRAINING = env_bool("MACHI_JMA_ACCEPT_TRAINING")
# Key(s) for secrets stored in the database (AP credentials, SSID keys), comma-separated,
# newest first; default: derived from the secret key (core/crypto.py).
MACHI_ENCRYPTION_KEY = os.environ.get("MACHI_ENCRYPTION_KEY", "")
# Let HQ fetch CAP alerts from loopback or private addresses (a prefecture's internal server).
MACHI_ALERT_FETCH_PRIVATE = env_bool("MACHI_ALERT_FETCH_PRIVATE")

# --- E-mail (alerts to Wi-Fi staff, the free Wi-Fi's confirmation mails) ----------------------
EMAIL_HOST = os.environ.get("MACHI_EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("MACHI_EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("MACHI_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("MACHI_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("MACHI_EMAIL_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("MACHI_EMAIL_FROM", "webmaster@localhost")
if DEMO:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- Public Wi-Fi: the disaster-mode switch and the demo fleet ----------------------------------
MACHI_WIFI_SWITCH_CONCURRENCY = int(os.environ.get("MACHI_WIFI_SWITCH_CONCURRENCY", "200"))
MACHI_WIFI_SWITCH_ATTEMPTS = int(os.environ.get("MACHI_WIFI_SWITCH_ATTEMPTS", "3"))
MACHI_WIFI_SWITCH_BACKOFF = float(os.environ.get("MACHI_WIFI_SWITCH_BACKOFF", "2.0"))
MACHI_WIFI_DRIVER_TIMEOUT = float(os.environ.get("MACHI_WIFI_DRIVER_TIMEOUT", "5.0"))
MACHI_WIFI_DEMO_APS = int(os.environ.get("MACHI_WIFI_DEMO_APS", "2"))
MACHI_WIFI_SIMULATOR_PORT = int(os.environ.get("MACHI_WIFI_SIMULATOR_PORT", "8300"))

# --- Free Wi-Fi captive portal (machi.wifi.portal) ---------------------------------------------
MACHI_WIFI_SESSION_MINUTES = int(os.environ.get("MACHI_WIFI_SESSION_MINUTES", "180"))
# Data per session in MB (10^6 bytes); 0 = unlimited.
MACHI_WIFI_SESSION_MB = int(os.environ.get("MACHI_WIFI_SESSION_MB", "0"))
# E-mail registrations per address and hour.
MACHI_WIFI_REGISTER_RATE_LIMIT = int(os.environ.get("MACHI_WIFI_REGISTER_RATE_LIMIT", "3"))
# Days the portal keeps a session's (hashed) identity after it ended.
MACHI_WIFI_RETENTION_DAYS = int(os.environ.get("MACHI_WIFI_RETENTION_DAYS", "90"))
MACHI_WIFI_VENUE_INFO_URL = os.environ.get("MACHI_WIFI_VENUE_INFO_URL", "")
# An OpenID Connect provider for the free Wi-Fi login (empty: the option is hidden).
MACHI_WIFI_OIDC_ISSUER = os.environ.get("MACHI_WIFI_OIDC_ISSUER", "")
MACHI_WIFI_OIDC_CLIENT_ID = os.environ.get("MACHI_WIFI_OIDC_CLIENT_ID", "")
MACHI_WIFI_OIDC_CLIENT_SECRET = os.environ.get("MACHI_WIFI_OIDC_CLIENT_SECRET", "")
MACHI_WIFI_OIDC_LABEL = os.environ.get("MACHI_WIFI_OIDC_LABEL", "")
# FreeRADIUS (rlm_rest) callers allowed (CIDR, comma-separated) and their shared secret
# (empty: every call refused).
MACHI_WIFI_RADIUS_CLIENTS = os.environ.get("MACHI_WIFI_RADIUS_CLIENTS", "127.0.0.1")
MACHI_WIFI_RADIUS_SECRET = os.environ.get("MACHI_WIFI_RADIUS_SECRET", "")
MACHI_WIFI_RADIUS_MAC_PASSWORD = os.environ.get("MACHI_WIFI_RADIUS_MAC_PASSWORD", "")

# --- Resident notifications (machi.notify) ------------------------------------------------------
# The public address of this installation, for links in messages and e-mails.
MACHI_PUBLIC_URL = os.environ.get("MACHI_PUBLIC_URL", "http://127.0.0.1:8000")
# The SMTP server that carries notification e-mail (default: Django's EMAIL_HOST/PORT). The
# demo starts a local SMTP sink (`machi notify_sink`) on MACHI_NOTIFY_SINK_PORT and uses it.
MACHI_NOTIFY_SINK_PORT = int(os.environ.get("MACHI_NOTIFY_SINK_PORT", "8025"))
MACHI_NOTIFY_SMTP_HOST = os.environ.get(
    "MACHI_NOTIFY_SMTP_HOST", "127.0.0.1" if DEMO else EMAIL_HOST
)
MACHI_NOTIFY_SMTP_PORT = int(
    os.environ.get("MACHI_NOTIFY_SMTP_PORT", str(MACHI_NOTIFY_SINK_PORT if DEMO else EMAIL_PORT))
)
MACHI_NOTIFY_EMAIL_FROM = os.environ.get("MACHI_NOTIFY_EMAIL_FROM", DEFAULT_FROM_EMAIL)
# Where bounces and complaints come back: each message's return path is this address with
# the delivery in it (VERP), and the mail server pipes what arrives to `machi notify_bounce`.
MACHI_NOTIFY_BOUNCE_ADDRESS = os.environ.get("MACHI_NOTIFY_BOUNCE_ADDRESS", "")
# 空メール登録: an empty mail to this address registers its sender (the mail server pipes it to
# `machi notify_register`); shown on the subscribe page as a mailto: link and QR code.
MACHI_NOTIFY_REGISTER_ADDRESS = os.environ.get("MACHI_NOTIFY_REGISTER_ADDRESS", "")
MACHI_NOTIFY_EMAIL_CONNECTIONS = int(os.environ.get("MACHI_NOTIFY_EMAIL_CONNECTIONS", "8"))
MACHI_NOTIFY_PUSH_CONCURRENCY = int(os.environ.get("MACHI_NOTIFY_PUSH_CONCURRENCY", "64"))
# Sends per second and worker, per channel (0: unlimited), e.g. "email=50,webpush=0,line=30".
MACHI_NOTIFY_RATES = {
    key.strip(): float(value)
    for key, _, value in (
        item.partition("=") for item in env_list("MACHI_NOTIFY_RATES", "") if "=" in item
    )
}
# Web Push (VAPID): the private key (PEM or base64url; empty: one is made in DATA_DIR).
MACHI_NOTIFY_VAPID_PRIVATE_KEY = os.environ.get("MACHI_NOTIFY_VAPID_PRIVATE_KEY", "")
MACHI_NOTIFY_VAPID_SUBJECT = os.environ.get("MACHI_NOTIFY_VAPID_SUBJECT", "")
# LINE Messaging API: the channel's access token and secret, the add-friend link.
# The demo talks to a local fake of the Messaging API (`python -m machi.notify.peers.line_api`).
MACHI_LINE_API_URL = os.environ.get(
    "MACHI_LINE_API_URL", "http://127.0.0.1:8027" if DEMO else "https://api.line.me"
)
MACHI_LINE_CHANNEL_TOKEN = os.environ.get(
    "MACHI_LINE_CHANNEL_TOKEN", "demo-line-channel-token" if DEMO else ""
)
MACHI_LINE_CHANNEL_SECRET = os.environ.get(
    "MACHI_LINE_CHANNEL_SECRET", "demo-line-channel-secret" if DEMO else ""
)
MACHI_LINE_FRIEND_URL = os.environ.get(
    "MACHI_LINE_FRIEND_URL", "https://line.me/R/ti/p/@machi-demo" if DEMO else ""
)
# Non-emergency broadcasts need a second person's approval before they go out.
MACHI_NOTIFY_REQUIRE_APPROVAL = env_bool("MACHI_NOTIFY_REQUIRE_APPROVAL", default=True)
# A delivery claimed by a worker that died is sent again after this many seconds.
MACHI_NOTIFY_LEASE_SECONDS = int(os.environ.get("MACHI_NOTIFY_LEASE_SECONDS", "60"))
MACHI_NOTIFY_MAX_ATTEMPTS = int(os.environ.get("MACHI_NOTIFY_MAX_ATTEMPTS", "10"))
MACHI_NOTIFY_BATCH = int(os.environ.get("MACHI_NOTIFY_BATCH", "1000"))

# --- Victim support (machi.recovery) -------------------------------------------------------------
# Days the city gives itself to re-survey a house once a household asks (再調査).
MACHI_RECOVERY_RESURVEY_DAYS = int(os.environ.get("MACHI_RECOVERY_RESURVEY_DAYS", "30"))
# A TrueType font embedded (as a subset) in 罹災証明書 PDFs; default: IPA明朝 when installed
# (Debian's fonts-ipafont-mincho), else a CID font the PDF viewer supplies.
MACHI_CERTIFICATE_FONT = os.environ.get("MACHI_CERTIFICATE_FONT", "")

# --- Online procedures (machi.procedures) ---------------------------------------------------------
# Days after an application was finished before its applicant's personal data is removed.
MACHI_PROCEDURES_RETENTION_DAYS = int(os.environ.get("MACHI_PROCEDURES_RETENTION_DAYS", "1095"))
# Residents' API limits per minute: per resident (their identifier) and per network address
# (high: a shelter's 00000JAPAN puts many residents behind one address).
MACHI_PROCEDURES_API_RESIDENT_RATE = int(os.environ.get("MACHI_PROCEDURES_API_RESIDENT_RATE", "30"))
MACHI_PROCEDURES_API_IP_RATE = int(os.environ.get("MACHI_PROCEDURES_API_IP_RATE", "600"))
# E-mail codes asked and OpenID sign-ins started, per network address and hour.
MACHI_PROCEDURES_CODE_RATE_LIMIT = int(os.environ.get("MACHI_PROCEDURES_CODE_RATE_LIMIT", "30"))
MACHI_OIDC_RATE_LIMIT = int(os.environ.get("MACHI_OIDC_RATE_LIMIT", "300"))
# The open data API, per client address and minute (portals and apps harvest it in bursts).
MACHI_OPENDATA_RATE_LIMIT = int(os.environ.get("MACHI_OPENDATA_RATE_LIMIT", "600"))
# A contact line on cover letters (e.g. "市民課 048-000-0000"), and where residents mail
# 定額小為替 ("〒000-0000 …"; empty: the city and department's names).
MACHI_PROCEDURES_CONTACT = os.environ.get("MACHI_PROCEDURES_CONTACT", "")
MACHI_POSTAL_ADDRESS = os.environ.get("MACHI_POSTAL_ADDRESS", "")
# Days a resident's saved, unsent application is kept for resuming.
MACHI_PROCEDURES_DRAFT_DAYS = int(os.environ.get("MACHI_PROCEDURES_DRAFT_DAYS", "30"))
# JPKI-style signatures: the trust anchors (PEM file(s) of CA certificates) and a folder of
# CRLs (PEM or DER), reread when they change. Demo: made by `machi procedures_testca`.
MACHI_JPKI_TRUST_ANCHORS = os.environ.get(
    "MACHI_JPKI_TRUST_ANCHORS", str(DATA_DIR / "jpki" / "anchors.pem")
)
MACHI_JPKI_CRL_DIR = os.environ.get("MACHI_JPKI_CRL_DIR", str(DATA_DIR / "jpki" / "crl"))
# OpenID Connect (e.g. デジタル認証アプリ): the issuer, the client, and how the client proves
# itself at the token endpoint: "private_key_jwt" (a private JWK/PEM in
# MACHI_OIDC_PRIVATE_KEY; empty: one made in DATA_DIR) or "client_secret_basic".
# Demo: a loopback provider (`machi oidc_provider`) on MACHI_OIDC_PORT.
MACHI_OIDC_PORT = int(os.environ.get("MACHI_OIDC_PORT", "8029"))
MACHI_OIDC_ISSUER = os.environ.get(
    "MACHI_OIDC_ISSUER", f"http://127.0.0.1:{MACHI_OIDC_PORT}" if DEMO else ""
)
MACHI_OIDC_CLIENT_ID = os.environ.get("MACHI_OIDC_CLIENT_ID", "machi-demo" if DEMO else "")
MACHI_OIDC_CLIENT_SECRET = os.environ.get("MACHI_OIDC_CLIENT_SECRET", "")
MACHI_OIDC_CLIENT_AUTH = os.environ.get("MACHI_OIDC_CLIENT_AUTH", "private_key_jwt")
MACHI_OIDC_PRIVATE_KEY = os.environ.get("MACHI_OIDC_PRIVATE_KEY", "")
MACHI_OIDC_SCOPES = os.environ.get("MACHI_OIDC_SCOPES", "openid profile email address")
# Card payments: the gateway's API, the merchant's key and the webhook signing secret.
# Demo: a loopback gateway (`machi card_gateway`) on MACHI_CARD_PORT.
MACHI_CARD_PORT = int(os.environ.get("MACHI_CARD_PORT", "8031"))
MACHI_CARD_API_URL = os.environ.get(
    "MACHI_CARD_API_URL", f"http://127.0.0.1:{MACHI_CARD_PORT}" if DEMO else ""
)
# Where the gateway's payment page is, if not at the API's address (the pages' CSP lets forms
# go there: the resident is sent to it after sending an application).
MACHI_CARD_PAGE_ORIGIN = os.environ.get("MACHI_CARD_PAGE_ORIGIN", "")
MACHI_CARD_API_KEY = os.environ.get("MACHI_CARD_API_KEY", "demo-card-key" if DEMO else "")
MACHI_CARD_WEBHOOK_SECRET = os.environ.get(
    "MACHI_CARD_WEBHOOK_SECRET", "demo-card-webhook-secret" if DEMO else ""
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("MACHI_LOG_LEVEL", "INFO")},
    "loggers": {"huey": {"level": "WARNING"}},
}
