"""LLMSim settings: every value that varies between machines comes from the environment.

django-environ reads the process environment (and an optional `.env` file at the
project root). Simulator behaviour (generator, latency, errors) is not here: it lives
in the database, edited in the admin, and is loaded into an in-memory snapshot.
"""

import math
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from llmsim_project import secret_key

# The checkout (manage.py, .env); in an installed package, site-packages, where nothing is written.
BASE_DIR = Path(__file__).resolve().parent.parent
# The templates and static files the server needs ship inside this package.
PACKAGE_DIR = Path(__file__).resolve().parent

env = environ.Env(
    DEBUG=(bool, False),
    LLMSIM_REQUIRE_API_KEY=(bool, True),
    LLMSIM_MAX_BODY_BYTES=(int, 10 * 1024 * 1024),
    LLMSIM_SNAPSHOT_POLL_SECONDS=(float, 0.5),
    LLMSIM_SERVE_STATIC=(bool, True),
    LLMSIM_LISTEN_BACKLOG=(int, 4096),
    LLMSIM_LOG_REQUESTS=(bool, False),
    LLMSIM_STATS_PUBLISH_SECONDS=(float, 1.0),
    LLMSIM_LOAD_SHARED=(bool, False),
    LLMSIM_RESPONSES_RETAIN=(int, 10_000),
    LLMSIM_RESPONSES_RETAIN_BYTES=(int, 1024**3),
    LLMSIM_ASSISTANTS_RETAIN=(int, 10_000),
    LLMSIM_ASSISTANTS_RETAIN_BYTES=(int, 256 * 1024**2),
    LLMSIM_FILES_MAX_BYTES=(int, 64 * 1024**2),
    LLMSIM_BATCHES_RETAIN=(int, 1000),
    LLMSIM_BATCHES_RETAIN_BYTES=(int, 1024**3),
    LLMSIM_DB_BUSY_TIMEOUT_S=(float, 5.0),
    LLMSIM_HTTPS=(bool, False),
    LLMSIM_HSTS_SECONDS=(int, 3600),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# What this install writes: the embedded SQLite database, the generated secret key and the
# admin password file. The checkout for contributors (manage.py); the `llmsim` command sets
# LLMSIM_DATA_DIR to a per-user directory (llmsim_project/cli.py), as it must not write into
# site-packages.
LLMSIM_DATA_DIR = Path(env.str("LLMSIM_DATA_DIR", default="") or BASE_DIR).expanduser().absolute()


def _at_least(least: float, name: str) -> float:
    value = env(name)
    if value < least:
        raise ImproperlyConfigured(f"{name} must be {least} or more, not {value}")
    return value


DEBUG = env("DEBUG")
# Django checks the Host header only on its side of the site (admin, dashboard and its
# socket, management API); the provider routes, /health, /llmsim/stats and /metrics are
# answered before Django and take any Host. By default the admin answers the names of
# this machine's loopback interface only (what a local run opens): a web page on another
# site cannot reach it through DNS rebinding. Reached by another name or address, set
# DJANGO_ALLOWED_HOSTS (`manage.py serve --host <address>` adds that address itself).
LOCAL_HOSTS = [".localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=LOCAL_HOSTS)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # First, so that its runserver (Daphne's, with a load-test backlog) is the one used.
    "simulator",
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "stats",
]

# These apply to the admin and dashboard only: the provider routes (/v1/…) are
# answered by simulator.server before Django's request machinery is involved.
MIDDLEWARE = [
    "llmsim_project.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so that it sees a view's exception first: a busy database is a 503, not a 500 page.
    "simulator.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "llmsim_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
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

WSGI_APPLICATION = None
ASGI_APPLICATION = "llmsim_project.asgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{LLMSIM_DATA_DIR / 'db.sqlite3'}"),
}
# How long a query waits for a database that is busy (SQLite: another process's write;
# PostgreSQL: connecting) before the request gets a 503 with retry-after.
LLMSIM_DB_BUSY_TIMEOUT_S = _at_least(0.01, "LLMSIM_DB_BUSY_TIMEOUT_S")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Server processes poll the snapshot version while the admin writes: WAL lets
    # readers and the writer proceed together instead of meeting "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": LLMSIM_DB_BUSY_TIMEOUT_S,
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A server that does not answer (not one that refuses) would hold each request for
    # the operating system's TCP timeout, minutes; libpq counts whole seconds, two at least.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", max(2, math.ceil(LLMSIM_DB_BUSY_TIMEOUT_S))
    )

# DJANGO_SECRET_KEY, or a random key generated once per install and kept beside the
# SQLite database (llmsim_project/secret_key.py). Replicas sharing a database must share
# DJANGO_SECRET_KEY: each server process says at start which source it uses and warns
# when another process sharing its database or Redis signs with a different key
# (simulator/state/key_agreement.py).
try:
    _secret_key = secret_key.choose(
        env.str("DJANGO_SECRET_KEY", default=""),
        Path(
            env.str("LLMSIM_SECRET_KEY_FILE", default="")
            or secret_key.key_file_for(DATABASES["default"], LLMSIM_DATA_DIR)
        ),
    )
except secret_key.SecretKeyError as exc:
    raise ImproperlyConfigured(str(exc)) from None
SECRET_KEY = _secret_key.value
# The file holding the generated key; empty when the key comes from DJANGO_SECRET_KEY.
LLMSIM_SECRET_KEY_FILE = str(_secret_key.file or "")

# The management API (/llmsim/api/, simulator/rest/): staff users only, by API token
# (`Token <key>` or `Bearer <key>`; manage.py llmsim_token), LLMSIM_ADMIN_TOKEN as a
# bearer token, or an admin session. Anonymous requests get 401, others 403.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "simulator.rest.authentication.BearerAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
}

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
STATIC_ROOT = LLMSIM_DATA_DIR / "staticfiles"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Every line carries the id of the request it was logged for (llmsim_project/logging.py); "json"
# writes one JSON object per line, for log collectors.
LLMSIM_LOG_FORMAT = env.str("LLMSIM_LOG_FORMAT", default="text")
if LLMSIM_LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LLMSIM_LOG_FORMAT must be text or json, not {LLMSIM_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "llmsim_project.logging.RequestIdFilter"},
        "without_traceback": {"()": "llmsim_project.logging.WithoutTraceback"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "llmsim_project.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": LLMSIM_LOG_FORMAT}
    },
    # A Host header that is not in ALLOWED_HOSTS is the client's mistake (or a probe): one
    # line saying so, not a traceback per request.
    "loggers": {"django.security.DisallowedHost": {"filters": ["without_traceback"]}},
    "root": {"handlers": ["console"], "level": env("LLMSIM_LOG_LEVEL", default="INFO")},
}
# One log line per answered provider request (method, path, status, model, tokens, duration).
LLMSIM_LOG_REQUESTS = env("LLMSIM_LOG_REQUESTS")

# --- LLMSim ---------------------------------------------------------------------
# Requests without an API key get 401, as from the real providers; any key is accepted.
LLMSIM_REQUIRE_API_KEY = env("LLMSIM_REQUIRE_API_KEY")
# Larger bodies are refused with 413 before they are read in full.
LLMSIM_MAX_BODY_BYTES = env("LLMSIM_MAX_BODY_BYTES")
# Daphne closes a WebSocket on a message past 1 MiB by default: a Realtime audio append of
# 0.8 MB would end the session, where OpenAI takes 15 MiB of audio (20 MiB of base64) in
# one. Up to the Realtime API's own limit (simulator/providers/openai/realtime/events.py,
# MAX_EVENT_BYTES) the client is told in an error event; past this, Daphne closes (1009).
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = 22 * 1024 * 1024
# How often each process checks whether the admin changed the scenario data.
LLMSIM_SNAPSHOT_POLL_SECONDS = env("LLMSIM_SNAPSHOT_POLL_SECONDS")
# Serve STATIC_URL (the admin's styles) from the app itself, DEBUG or not: the admin is
# the product's UI and must look right without a separate web server.
LLMSIM_SERVE_STATIC = env("LLMSIM_SERVE_STATIC")
# Pending connections the listening socket holds (runserver and serve): a load test
# opens thousands at once; the kernel caps it at net.core.somaxconn.
LLMSIM_LISTEN_BACKLOG = env("LLMSIM_LISTEN_BACKLOG")
# YAML configuration file (the seed's schema), applied at startup; the other LLMSIM_*
# variables of that configuration are read by simulator/config.py.
LLMSIM_CONFIG = env("LLMSIM_CONFIG", default="")
# Which server a process belongs to, as the admin lists the overrides of running servers:
# `serve` and `runserver` set it (host, port, command and pid) for their processes.
LLMSIM_SERVER_NAME = env("LLMSIM_SERVER_NAME", default="")
# Scale-out mode: with several processes or replicas, rate-limit buckets and stats are
# shared through this Redis (e.g. redis://127.0.0.1:6379/0). Empty: in-process only.
REDIS_URL = env("REDIS_URL", default="")
# Prefix of every Redis key LLMSim writes, so that several deployments can share one Redis.
LLMSIM_REDIS_PREFIX = env("LLMSIM_REDIS_PREFIX", default="llmsim")
# Without Redis, worker processes of one machine add their stats up through files in
# this directory (`manage.py serve` makes one for its workers). Empty: this process only.
LLMSIM_STATS_DIR = env("LLMSIM_STATS_DIR", default="")
# Which server runs this process, for the page at / ("granian, 2 workers"): `serve` and
# `runserver` set it for their processes; empty where the app is served otherwise.
LLMSIM_SERVER = env.str("LLMSIM_SERVER", default="")
# How often each process shares its stats with the others (Redis or LLMSIM_STATS_DIR).
LLMSIM_STATS_PUBLISH_SECONDS = env("LLMSIM_STATS_PUBLISH_SECONDS")
# Whether a model profile's max_concurrency and queue count across every process and
# replica (in Redis, which needs REDIS_URL) rather than per process (docs/providers.md#load).
LLMSIM_LOAD_SHARED = env("LLMSIM_LOAD_SHARED")
# A token for the stats reset API (Authorization: Bearer <token>); empty: only a staff
# user's admin session may reset.
LLMSIM_ADMIN_TOKEN = env("LLMSIM_ADMIN_TOKEN", default="")
# Responses API answers created with store: true are kept in the database for
# retrieval and previous_response_id: the newest this many (the oldest are pruned as
# new ones come in, so a load test cannot fill the disk). 0 stores none.
LLMSIM_RESPONSES_RETAIN = _at_least(0, "LLMSIM_RESPONSES_RETAIN")
# ... and within this many bytes (their input items and the response as stored; 1 GiB).
LLMSIM_RESPONSES_RETAIN_BYTES = _at_least(1, "LLMSIM_RESPONSES_RETAIN_BYTES")
# Assistants API objects: the newest this many assistants and this many threads (a
# pruned thread takes its messages and runs along), and the newest ten times as many
# messages and runs; each of the four kinds within LLMSIM_ASSISTANTS_RETAIN_BYTES.
LLMSIM_ASSISTANTS_RETAIN = _at_least(1, "LLMSIM_ASSISTANTS_RETAIN")
LLMSIM_ASSISTANTS_RETAIN_BYTES = _at_least(1, "LLMSIM_ASSISTANTS_RETAIN_BYTES")
# Files (POST /v1/files) are refused past this size (OpenAI takes 512 MB; an upload is
# held in memory while it is read: 64 MiB by default).
LLMSIM_FILES_MAX_BYTES = _at_least(1, "LLMSIM_FILES_MAX_BYTES")
# Batches (OpenAI and Anthropic): the newest this many, and three times as many files;
# each kind within LLMSIM_BATCHES_RETAIN_BYTES (1 GiB).
LLMSIM_BATCHES_RETAIN = _at_least(1, "LLMSIM_BATCHES_RETAIN")
LLMSIM_BATCHES_RETAIN_BYTES = _at_least(1, "LLMSIM_BATCHES_RETAIN_BYTES")

# --- Who may see what -----------------------------------------------------------
# The load-test numbers (GET /llmsim/stats, GET /metrics, the dashboard page and its
# socket): "public" (anyone who reaches the server), or "private": a staff user's admin
# session, or `Authorization: Bearer <token>` with LLMSIM_OPS_TOKEN (read-only, e.g. for
# Prometheus) or LLMSIM_ADMIN_TOKEN. /health stays public for load balancers.
LLMSIM_OPS_AUTH = env.str("LLMSIM_OPS_AUTH", default="public")
if LLMSIM_OPS_AUTH not in ("public", "private"):
    raise ImproperlyConfigured(f"LLMSIM_OPS_AUTH must be public or private, not {LLMSIM_OPS_AUTH!r}")
LLMSIM_OPS_TOKEN = env.str("LLMSIM_OPS_TOKEN", default="")

# LLMSIM_HTTPS=true: the site is reached over HTTPS only, through a proxy that ends TLS
# and sets X-Forwarded-Proto (LLMSim's servers speak plain HTTP). Cookies then travel
# over HTTPS only, and Django's side of the site (admin, dashboard, management API)
# redirects plain HTTP and sends HSTS; the provider routes are answered before Django,
# so an SDK pointed at http:// is neither redirected nor refused.
LLMSIM_HTTPS = env("LLMSIM_HTTPS")
if LLMSIM_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env("LLMSIM_HSTS_SECONDS")
# `manage.py check --deploy` (see also simulator/checks.py). HSTS for every subdomain
# and the browsers' preload list commit the whole domain to HTTPS for months or years:
# the owner of the domain decides that, not one service on it.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
