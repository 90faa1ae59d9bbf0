"""VoxSaaS settings. The ONLY module that reads the environment (see env.example).

Everything has an embedded default for development (SQLite, in-memory channel layer, Celery
eager, offline engine) except secrets, which must be given when DEBUG is off. A malformed value
stops start-up with a message naming the variable.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from voxsaas.envparse import EnvReader, parse_database_url, parse_fernet_keys, parse_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent
env = EnvReader(os.environ)

DEBUG = env.get_bool("DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me-0123456789abcdef"  # noqa: S105 - DEBUG only
SECRET_KEY = env.get_str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else None)
if not DEBUG and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured("SECRET_KEY must be set to a random value of at least 32 characters.")

ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
PUBLIC_BASE_URL = env.get_url("PUBLIC_BASE_URL", default="http://127.0.0.1:8000", schemes=("http", "https"))
CSRF_TRUSTED_ORIGINS = [PUBLIC_BASE_URL]

# --------------------------------------------------------------------------------- encryption
# Comma-separated Fernet keys: the first encrypts, all decrypt (rotation: put the new key first,
# run `manage.py rotate_encryption_keys`, then drop the old key).
_raw_keys = os.environ.get("FIELD_ENCRYPTION_KEYS")
if _raw_keys is None:
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set (comma-separated Fernet keys).")
    # Development only: a stable key derived from the dev SECRET_KEY so `make run` needs no setup.
    _raw_keys = base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
FIELD_ENCRYPTION_KEYS = parse_fernet_keys("FIELD_ENCRYPTION_KEYS", _raw_keys)

# ------------------------------------------------------------------------------------ apps
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tenants",
    "agents",
    "agents.knowledge",
    "agents.scheduling",
    "calls",
    "calls.webhooks",
    "calls.outbound",
    "calls.postcall",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "voxsaas.security_headers.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Server-Timing header (app, CPU and SQL time, query count) on every response, for benchmarks
# and for chasing a slow endpoint. Off by default: timings reveal something about the data.
SERVER_TIMING = env.get_bool("SERVER_TIMING", default=False)
if SERVER_TIMING:
    MIDDLEWARE.insert(0, "voxsaas.servertiming.ServerTimingMiddleware")

ROOT_URLCONF = "voxsaas.urls"
ASGI_APPLICATION = "voxsaas.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# -------------------------------------------------------------------------------- database
DATABASES = {
    "default": parse_database_url(
        "DATABASE_URL", env.get_str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Channels runs ORM calls in threads; SQLite needs a busy timeout to avoid "database is locked".
    # IMMEDIATE transactions take the write lock up front, so concurrent writers wait for it
    # (up to the timeout) instead of failing with "database is locked" when upgrading a lock.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so end-to-end tests can share the test database with a real server
    # process (daphne) started by the test run; one per test process, so runs can overlap.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")}
# A PostgreSQL connection pool per process (psycopg_pool through Django's OPTIONS["pool"]). Under
# ASGI each request runs in a thread context of its own, so a persistent connection (CONN_MAX_AGE)
# is never reused: without a pool every API request and webhook opened a new connection (~10 ms,
# measured by bench/api_lists.py), and a burst of requests could exhaust the server's
# max_connections. With it, a process holds at most DATABASE_POOL_MAX_SIZE connections and a
# request waits up to DATABASE_POOL_TIMEOUT_S for one. DATABASE_POOL_MAX_SIZE=0 turns it off.
DATABASE_POOL_MIN_SIZE = env.get_int("DATABASE_POOL_MIN_SIZE", default=1, minimum=0)
DATABASE_POOL_MAX_SIZE = env.get_int("DATABASE_POOL_MAX_SIZE", default=10, minimum=0)
DATABASE_POOL_TIMEOUT_S = env.get_int("DATABASE_POOL_TIMEOUT_S", default=10, minimum=1)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_MAX_SIZE > 0:
    if DATABASE_POOL_MIN_SIZE > DATABASE_POOL_MAX_SIZE:
        raise ImproperlyConfigured(
            f"DATABASE_POOL_MIN_SIZE ({DATABASE_POOL_MIN_SIZE}) must not exceed "
            f"DATABASE_POOL_MAX_SIZE ({DATABASE_POOL_MAX_SIZE})."
        )
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # pooled connections go back to the pool instead
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": DATABASE_POOL_MIN_SIZE,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": float(DATABASE_POOL_TIMEOUT_S),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------- redis: channels + celery
REDIS_URL = os.environ.get("REDIS_URL") or None
CHANNEL_LAYER_SOCKET_TIMEOUT_S = 15.0  # must exceed channels_redis's 5 s blocking read
if REDIS_URL:
    REDIS_URL = parse_redis_url("REDIS_URL", REDIS_URL)
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # channels_redis waits for messages with 5 s blocking reads (BZPOPMIN); redis-py's
                # default 5 s socket timeout would cut each one short and crash every consumer
                # that has been idle for 5 s (a quiet call, an open live page).
                "hosts": [{"address": REDIS_URL, "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT_S}],
                "prefix": env.get_str("CHANNELS_PREFIX", default="voxsaas"),
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = env.get_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
    # Shared by every process: API throttling counts per key across all workers.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.get_str("CHANNELS_PREFIX", default="voxsaas"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis hands a message that a worker took but never acknowledged (the worker was killed) to
# another worker after this long. Tasks are idempotent, so a redelivery is harmless; but a message
# scheduled further ahead than this (an ETA) would be redelivered again every period, one more copy
# each time, so webhook retries use an ETA only up to WEBHOOK_ETA_MAX_S and leave longer waits to
# the due-delivery sweep (bench/webhook_drain.py --kill-worker).
BROKER_VISIBILITY_TIMEOUT_S = env.get_int("BROKER_VISIBILITY_TIMEOUT_S", default=3600, minimum=60)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT_S}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
# Django's LOGGING (plain or JSON, with the call id) also applies inside Celery workers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# ------------------------------------------------------------------ live calls across workers
# This process's name on the calls it bridges (Call.worker_id): host name and process id.
WORKER_ID = (env.get_str("WORKER_ID", default="").strip() or f"{socket.gethostname()}:{os.getpid()}")[:64]
# A live call proves its worker is alive at least this often (piggybacked on transcript flushes,
# a lone UPDATE when the call is quiet). A call whose proof is older than the timeout is "lost":
# the reaper (celery beat, every CALL_REAPER_INTERVAL_S) ends it with reason worker_lost, and it
# stops counting against its tenant's concurrent-call limit at once.
CALL_HEARTBEAT_INTERVAL_S = env.get_int("CALL_HEARTBEAT_INTERVAL_S", default=10, minimum=1)
CALL_HEARTBEAT_TIMEOUT_S = env.get_int("CALL_HEARTBEAT_TIMEOUT_S", default=30, minimum=2)
if CALL_HEARTBEAT_TIMEOUT_S < 2 * CALL_HEARTBEAT_INTERVAL_S:
    raise ImproperlyConfigured(
        "CALL_HEARTBEAT_TIMEOUT_S must be at least twice CALL_HEARTBEAT_INTERVAL_S "
        f"({CALL_HEARTBEAT_TIMEOUT_S} < 2 x {CALL_HEARTBEAT_INTERVAL_S}): "
        "a slow heartbeat would end live calls."
    )
CALL_REAPER_INTERVAL_S = env.get_int("CALL_REAPER_INTERVAL_S", default=20, minimum=1)
# Graceful drain (python -m voxsaas.serve): on SIGTERM the worker reports not ready, refuses new
# media streams, closes its listening socket after DRAIN_UNLISTEN_AFTER_S (the load balancer has
# seen /readyz fail by then), lets its calls finish for up to DRAIN_TIMEOUT_S, then exits.
DRAIN_TIMEOUT_S = env.get_int("DRAIN_TIMEOUT_S", default=300, minimum=0)
DRAIN_UNLISTEN_AFTER_S = env.get_int("DRAIN_UNLISTEN_AFTER_S", default=10, minimum=0)

# The safety net for webhook retries: enqueue every due delivery (run `celery beat`, or a worker
# with -B). Scheduled retries are also enqueued with an ETA; this catches lost messages.
WEBHOOK_SWEEP_INTERVAL_S = env.get_int("WEBHOOK_SWEEP_INTERVAL_S", default=60, minimum=1)
# A retry due within this many seconds is enqueued with an ETA; a later one is left to the sweep.
WEBHOOK_ETA_MAX_S = env.get_int("WEBHOOK_ETA_MAX_S", default=300, minimum=0)
if WEBHOOK_ETA_MAX_S >= BROKER_VISIBILITY_TIMEOUT_S:
    raise ImproperlyConfigured(
        f"WEBHOOK_ETA_MAX_S ({WEBHOOK_ETA_MAX_S}) must be below BROKER_VISIBILITY_TIMEOUT_S "
        f"({BROKER_VISIBILITY_TIMEOUT_S}): Redis would hand a waiting retry to a second worker."
    )
CELERY_BEAT_SCHEDULE = {
    "webhooks-dispatch-due": {
        "task": "webhooks.dispatch_due",
        "schedule": float(WEBHOOK_SWEEP_INTERVAL_S),
        "options": {"expires": float(WEBHOOK_SWEEP_INTERVAL_S)},  # a backlog of sweeps is useless
    },
    "outbound-purge-idempotency": {"task": "outbound.purge_idempotency", "schedule": 3600.0},
    # Ends calls whose worker died (no heartbeat): reason worker_lost, post-call work included.
    "calls-reap-lost": {
        "task": "calls.reap_lost_calls",
        "schedule": float(CALL_REAPER_INTERVAL_S),
        "options": {"expires": float(CALL_REAPER_INTERVAL_S)},  # a backlog of sweeps is useless
    },
}

# ------------------------------------------------------------------------------------ auth
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api.TenantPermission"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "voxsaas.rest.pagination.NewestFirstCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["tenants.api.TenantRateThrottle"],
    "EXCEPTION_HANDLER": "voxsaas.rest.problems.exception_handler",
}
# Requests per API key (or per dashboard member and tenant): "<count>/<second|minute|hour|day>".
API_THROTTLE_RATE = env.get_str("API_THROTTLE_RATE", default="600/minute")
if not re.fullmatch(r"[1-9]\d*/(s|sec|second|m|min|minute|h|hour|d|day)", API_THROTTLE_RATE):
    raise ImproperlyConfigured(f"API_THROTTLE_RATE must look like 600/minute, got {API_THROTTLE_RATE!r}.")
SPECTACULAR_SETTINGS = {
    "TITLE": "VoxSaaS API",
    "VERSION": "1.0.0",
    "DESCRIPTION": "Agents, phone numbers, calls (with transcripts, summaries and recordings), outbound "
    "calls, webhooks and usage of one tenant. Authenticate with a tenant API key "
    "(Authorization: Bearer ...). Lists use cursor pagination; errors are RFC 9457 problem details.",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CallStatusEnum": "calls.models.CallStatus",
        "WebhookDeliveryStatusEnum": "calls.webhooks.models.DeliveryStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "voxsaas.rest.schema.add_problem_responses",
    ],
}

# ------------------------------------------------------------------------ i18n and static
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "templates" / "static"]
MEDIA_ROOT = Path(env.get_str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "media/"
# Largest knowledge-base document accepted (uploaded file or pasted text), in bytes.
KNOWLEDGE_MAX_UPLOAD_BYTES = env.get_int("KNOWLEDGE_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024, minimum=1024)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --------------------------------------------------------------------------------- security
_https = PUBLIC_BASE_URL.startswith("https://")
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_SSL_REDIRECT = env.get_bool("SECURE_SSL_REDIRECT", default=_https and not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.get_int("SECURE_HSTS_SECONDS", default=31536000 if _https and not DEBUG else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Sent on HTML responses by voxsaas.security_headers (see there why each source is needed).
# Nothing inline and no third-party host: every script and style is a file under /static/.
CONTENT_SECURITY_POLICY: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "media-src": ["'self'", "blob:"],
    "connect-src": ["'self'"],
    "font-src": ["'self'"],
    "object-src": ["'none'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
}
SESSION_COOKIE_HTTPONLY = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# Development serves static files straight from the source folders (no collectstatic needed).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# ------------------------------------------------------------------ external service clients
# Every external service is reached through one client whose base URL is a setting, so tests
# and self-hosters can point it elsewhere.
TWILIO_API_BASE_URL = env.get_url(
    "TWILIO_API_BASE_URL", default="https://api.twilio.com", schemes=("http", "https")
)
ULTRAVOX_API_BASE_URL = env.get_url(
    "ULTRAVOX_API_BASE_URL", default="https://api.ultravox.ai", schemes=("http", "https")
)
OPENAI_REALTIME_URL = env.get_url(
    "OPENAI_REALTIME_URL", default="wss://api.openai.com/v1/realtime", schemes=("ws", "wss")
)
ASSEMBLYAI_STREAMING_URL = env.get_url(
    "ASSEMBLYAI_STREAMING_URL", default="wss://streaming.assemblyai.com", schemes=("ws", "wss")
)
ELEVENLABS_API_BASE_URL = env.get_url(
    "ELEVENLABS_API_BASE_URL", default="wss://api.elevenlabs.io", schemes=("ws", "wss", "http", "https")
)
OPENAI_API_BASE_URL = env.get_url(
    "OPENAI_API_BASE_URL", default="https://api.openai.com/v1", schemes=("http", "https")
)
# Which engine new agents use when none is chosen; "local" works with no account anywhere.
DEFAULT_ENGINE = env.get_str("DEFAULT_ENGINE", default="local")

# ---------------------------------------------------------------------------- webhooks, usage
# Tenants' webhook receivers (and webhook tools) may be on private/loopback addresses only when
# this is on: for self-hosters whose receivers live on their own network. Never the metadata service.
ALLOW_PRIVATE_WEBHOOK_ADDRESSES = env.get_bool("ALLOW_PRIVATE_WEBHOOK_ADDRESSES", default=False)
# One delivery attempt (connect, send, read the answer) must finish within this many seconds.
WEBHOOK_DELIVERY_TIMEOUT_S = env.get_float("WEBHOOK_DELIVERY_TIMEOUT_S", default=10.0, minimum=0.1)
# Waits before each automatic retry, in seconds (comma-separated; one retry per entry). The default
# is 30 s x 3^n capped at a day: ten retries, the last about 75 hours after the event. Shortened
# only by benchmarks and tests (bench/webhook_drain.py).
_retry_delays = env.get_list(
    "WEBHOOK_RETRY_DELAYS_S", default=[str(min(30 * 3**n, 86_400)) for n in range(10)]
)
try:
    WEBHOOK_RETRY_DELAYS_S = tuple(int(item) for item in _retry_delays)
except ValueError:
    raise ImproperlyConfigured(
        f"WEBHOOK_RETRY_DELAYS_S must be comma-separated whole seconds, got {_retry_delays!r}."
    ) from None
if not WEBHOOK_RETRY_DELAYS_S or min(WEBHOOK_RETRY_DELAYS_S) < 1:
    raise ImproperlyConfigured("WEBHOOK_RETRY_DELAYS_S must list at least one delay of 1 s or more.")
# Price of one billed minute (each call is rounded up to the started minute), for the cost fields.
try:
    USAGE_PRICE_PER_MINUTE = Decimal(env.get_str("USAGE_PRICE_PER_MINUTE", default="0"))
except InvalidOperation:
    raise ImproperlyConfigured("USAGE_PRICE_PER_MINUTE must be a decimal number like 0.05.") from None
if not USAGE_PRICE_PER_MINUTE.is_finite() or USAGE_PRICE_PER_MINUTE < 0:
    raise ImproperlyConfigured("USAGE_PRICE_PER_MINUTE must be a decimal number of at least 0.")

# ---------------------------------------------------------------------------------- email
# Team invitations and password resets. Default: printed on the console (development). For real
# mail: EMAIL_BACKEND=smtp plus EMAIL_HOST/PORT/HOST_USER/HOST_PASSWORD/USE_TLS.
_EMAIL_BACKENDS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}
_email_backend = env.get_str("EMAIL_BACKEND", default="console").strip()
EMAIL_BACKEND = _EMAIL_BACKENDS.get(_email_backend, _email_backend)
if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)+", EMAIL_BACKEND):
    raise ImproperlyConfigured(
        f"EMAIL_BACKEND must be console, smtp, locmem, dummy or a dotted class path; got {_email_backend!r}."
    )
DEFAULT_FROM_EMAIL = env.get_str("DEFAULT_FROM_EMAIL", default="VoxSaaS <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_HOST = env.get_str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.get_int("EMAIL_PORT", default=25, minimum=1)
EMAIL_HOST_USER = env.get_str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.get_str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.get_bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 10

# ------------------------------------------------------------------------------- logging
LOG_LEVEL = env.get_str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL; got {LOG_LEVEL!r}."
    )
# plain: human-readable lines (development); json: one JSON object per line (production log
# pipelines). Either way every line logged while a call runs carries its call id and tenant id.
LOG_FORMAT = env.get_str("LOG_FORMAT", default="plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json; got {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"call_context": {"()": "voxsaas.jsonlog.CallContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s%(call_tag)s %(message)s"},
        "json": {"()": "voxsaas.jsonlog.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["call_context"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# ------------------------------------------------------------------------------- metrics
# Prometheus exposition at /metrics on every web worker (each process reports its own calls:
# scrape every worker, not the load balancer). Requests need "Authorization: Bearer
# <METRICS_TOKEN>"; empty (the default) turns /metrics off.
METRICS_TOKEN = env.get_str("METRICS_TOKEN", default="")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured(
        "METRICS_TOKEN must be at least 16 characters (or empty to turn /metrics off)."
    )
# host:port where a Celery worker serves its own metrics (webhook deliveries, reaped calls);
# empty: none. With the prefork pool also set PROMETHEUS_MULTIPROC_DIR (see README).
WORKER_METRICS_ADDRESS = env.get_str("WORKER_METRICS_ADDRESS", default="").strip()
if WORKER_METRICS_ADDRESS and not re.fullmatch(r"[\w.\-\[\]:]+:\d{1,5}", WORKER_METRICS_ADDRESS):
    raise ImproperlyConfigured(
        f"WORKER_METRICS_ADDRESS must look like 0.0.0.0:9100; got {WORKER_METRICS_ADDRESS!r}."
    )
# Read by prometheus_client itself too: where prefork Celery children keep their counters. The
# library switches to file-backed metrics when the variable merely exists, so an empty one (an
# env file's "PROMETHEUS_MULTIPROC_DIR=") is removed rather than writing files to the cwd.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
if not PROMETHEUS_MULTIPROC_DIR:
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
if PROMETHEUS_MULTIPROC_DIR and not Path(PROMETHEUS_MULTIPROC_DIR).is_dir():
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR must be an existing directory; got {PROMETHEUS_MULTIPROC_DIR!r}."
    )
