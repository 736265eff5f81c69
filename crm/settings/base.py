"""Baton settings. Every value that differs between machines comes from the environment.

Variables (see README "Configuration"):
    DEBUG, SECRET_KEY, ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS, HTTPS, DATABASE_URL, REDIS_URL,
    EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, DEFAULT_FROM_EMAIL,
    BATON_DATA_DIR, LOG_LEVEL, BATON_API_TOKEN_DAYS, BATON_ADDRESS_FAILURE_LIMIT,
    BATON_REQUIRE_2FA_FOR_MANAGERS.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import jinja2
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-baton-local-development-only"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Runtime files (SQLite database, embedded broker, file cache) live here unless configured.
DATA_DIR = Path(os.environ.get("BATON_DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",  # API tokens: hashed, expiring, several per user (Baton's model: security.ApiToken)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_countries",
    "crm.apps.CrmConfig",
    "crm.security.apps.SecurityConfig",  # sign-in, two-factor, API tokens, lockouts
    "leads.apps.LeadsConfig",
    "handoff.apps.HandoffConfig",
    "reporting.apps.ReportingConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # NUL characters in the path, the query string or a form body: a 400 before anything reads them.
    "crm.input_guard.RefuseControlTextMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): signed in with a code
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "crm.security.two_factor.TwoFactorRequiredMiddleware",  # BATON_REQUIRE_2FA_FOR_MANAGERS
    # Last, as django-axes requires: it turns lockouts into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

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
                "crm.context_processors.navigation",
                "handoff.context_processors.notifications",
            ],
        },
    },
    {
        # Only the rows of the long list pages, through crm.fragments.render_rows (its docstring says why).
        "NAME": "jinja2",
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {
            "autoescape": True,
            "undefined": jinja2.StrictUndefined,  # a misspelt name fails loudly, in the tests too
            "trim_blocks": True,
            "lstrip_blocks": True,
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'baton.sqlite3'}"
# Each process keeps its database connection between requests and tasks (opening one cost ~6 ms
# a request on PostgreSQL), checked before reuse so a connection the server dropped is replaced.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "600")), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite engine with a flush the stage-history DELETE trigger lets through
    # (SQLite's TRUNCATE); see crm/db/sqlite3/base.py.
    DATABASES["default"]["ENGINE"] = "crm.db.sqlite3"
    # WAL lets the web server read while the worker writes; IMMEDIATE transactions take the
    # write lock up front, so two writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker and cache, or embedded fallbacks ------------------------------------------


def redis_caches(url: str) -> dict:
    """The cache on Redis: reads miss and writes are skipped while Redis is unreachable
    (crm/cache.py), so pages keep working from the database."""
    return {
        "default": {
            "BACKEND": "crm.cache.ResilientRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }


REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = redis_caches(REDIS_URL)
    CELERY_BROKER_URL = REDIS_URL
    # Kombu's Redis transport with its reconnect defect fixed (crm/broker.py says which).
    CELERY_BROKER_TRANSPORT = os.environ.get("BATON_BROKER_TRANSPORT", "crm.broker:Transport")
    # A message a worker took but never acknowledged (it died, or Redis restarted under it) is
    # delivered again after this long. Jobs that stop making progress are found sooner by the stale
    # job sweep (BATON_STALE_JOB_MINUTES); this only bounds how long a lost wake-up can wait.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
        "visibility_timeout": int(os.environ.get("BATON_VISIBILITY_TIMEOUT", str(60 * 60))),
        "socket_connect_timeout": 2,
    }
else:
    # No Redis: a file cache shared by the web server and the worker on this machine, and
    # Kombu's filesystem transport as an embedded broker, so `make run` needs no services.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }
    _broker_dir = DATA_DIR / "broker"
    for _folder in (_broker_dir / "queue", _broker_dir / "processed", _broker_dir / "control", DATA_DIR / "cache"):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }

# --- Celery (the one place for its settings) ------------------------------------------------
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# A worker keeps trying to reach its broker however long it is away, instead of exiting after 100
# tries; the supervisor (`make prod`) restarts it if it stops anyway.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A web request sending a wake-up while the broker is down gives up within about a second
# (crm/queue.py logs it; the database keeps the work and the beat sweeps do it).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Beat records its heartbeat as it ticks (crm/beat.py), waking at least every 30 seconds.
CELERY_BEAT_SCHEDULER = "crm.beat:HeartbeatScheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = 30
CELERY_BEAT_SCHEDULE: dict = {}

# --- Auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "crm.backends.PermissionBackend",  # ModelBackend, reading permissions in one query
]
# Sessions are read from the cache (Redis, or the file cache without it) and kept in the database
# too: one query less on every request, and nobody is signed out when the cache is cleared.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# django-axes: 5 failed logins for one username from one address lock that pair out for 15
# minutes, and 20 from one address, whatever the usernames, lock the address out (each pair of
# parameters has its own limit: crm.security.throttling.AxesHandler). Wrong sign-in codes count as failures.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
BATON_ADDRESS_FAILURE_LIMIT = int(os.environ.get("BATON_ADDRESS_FAILURE_LIMIT", "20"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_HANDLER = "crm.security.throttling.AxesHandler"
# The client address as the API throttles read it (NUM_PROXIES deep into X-Forwarded-For): behind
# a load balancer REMOTE_ADDR is the balancer's, and locking it out would lock everyone out.
AXES_CLIENT_IP_CALLABLE = "crm.security.throttling.client_ip_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# API tokens (django-rest-knox, security.ApiToken): each expires this many days after it is
# issued; changing a password revokes them all (crm/security/tokens.py).
BATON_API_TOKEN_DAYS = int(os.environ.get("BATON_API_TOKEN_DAYS", "30"))
if BATON_API_TOKEN_DAYS < 1:
    raise ImproperlyConfigured(f"BATON_API_TOKEN_DAYS must be 1 or more, got {BATON_API_TOKEN_DAYS}")
KNOX_TOKEN_MODEL = "security.ApiToken"  # noqa: S105 (a model name, not a secret)
# Knox's own token model is swapped out for that one, but knox's migrations would still create its
# table (they do not mark it swappable), with a foreign key to users that PostgreSQL's flush then
# trips on. Without migrations, the swapped model gets no table at all.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {"TOKEN_TTL": timedelta(days=BATON_API_TOKEN_DAYS), "AUTH_HEADER_PREFIX": "Token"}

# Two-factor sign-in (django-otp): any user may add an authenticator app (TOTP) and recovery
# codes; with this on, managers (crm.security.two_factor.is_manager) must, before any page or API call.
BATON_REQUIRE_2FA_FOR_MANAGERS = env_bool("BATON_REQUIRE_2FA_FOR_MANAGERS", False)
OTP_TOTP_ISSUER = "Baton"

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files: built by npm into node_modules, collected by Django ----------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise
STATICFILES_DIRS = [BASE_DIR / "static"]
# Front-end packages installed from the npm registry by `make assets` (package.json pins them;
# package-lock.json is committed). Only their built files are served, under static/vendor/.
NODE_MODULES_DIR = BASE_DIR / "node_modules"
VENDOR_ASSETS = {
    "bootstrap": "bootstrap/dist",
    "bootstrap-icons": "bootstrap-icons/font",
    "chart.js": "chart.js/dist",
}
STATICFILES_DIRS += [
    (f"vendor/{name}", NODE_MODULES_DIR / path)
    for name, path in VENDOR_ASSETS.items()
    if (NODE_MODULES_DIR / path).exists()
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = DATA_DIR / "media"

# --- Forms ----------------------------------------------------------------------------------
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: anonymous API calls get 401 with a WWW-Authenticate challenge.
        "crm.security.tokens.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["crm.permissions.RolePermission"],
    # DRF's parsers with a JSON nesting limit, refusing NUL and lone surrogates (crm/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["crm.parsers.JSONParser", "crm.parsers.FormParser", "crm.parsers.MultiPartParser"],
    # OPTIONS names the allowed methods and links to the schema; it builds no serializer (crm/metadata.py).
    "DEFAULT_METADATA_CLASS": "crm.metadata.APIMetadata",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "crm.pagination.KeysetAPIPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "crm.api.exception_handler",
    # How many proxies (load balancer, TLS terminator) stand in front of Baton: throttles read the
    # client address from X-Forwarded-For only that deep, so clients cannot spoof it.
    "NUM_PROXIES": int(os.environ["NUM_PROXIES"]) if os.environ.get("NUM_PROXIES") else 0,
    # Public website forms: per form key and per client address (see leads.api throttles).
    "DEFAULT_THROTTLE_RATES": {
        "form_capture_key": os.environ.get("FORM_CAPTURE_RATE_PER_KEY", "120/min"),
        "form_capture_ip": os.environ.get("FORM_CAPTURE_RATE_PER_IP", "10/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Baton API",
    "DESCRIPTION": "Leads, activities and stage history of Baton, the marketing-to-sales handoff CRM.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# --- Email ----------------------------------------------------------------------------------
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Baton <baton@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Security -------------------------------------------------------------------------------
# HTTPS defaults to on whenever DEBUG is off; set HTTPS=0 only behind a trusted plain-HTTP setup.
HTTPS = env_bool("HTTPS", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the API docs page reads it to send CSRF headers
if HTTPS:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe backends over plain HTTP: answer /healthz without the redirect.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Content-Security-Policy (django-csp): scripts, styles, fonts and images from Baton itself only
# (no inline scripts, styles or event handlers; data for scripts comes in json_script blocks,
# which browsers do not run); Bootstrap's CSS draws a few icons from data: URIs. The API docs
# pages relax it for themselves only (crm/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO").upper()},
}

CELERY_BEAT_SCHEDULE["worker-heartbeat"] = {"task": "crm.heartbeat", "schedule": 60.0}
# Safety net for coalesced rescoring (normally scheduled right after new activities commit).
CELERY_BEAT_SCHEDULE["drain-rescore-requests"] = {"task": "leads.drain_rescore_requests", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["nightly-score-decay"] = {
    "task": "leads.decay_scores",
    "schedule": crontab(hour=2, minute=30),
}
# How many batches a full rescore runs at once on PostgreSQL (each on its own connection);
# unset: one per CPU core, at most 4. SQLite always runs one.
SCORING_RESCORE_THREADS = int(os.environ["BATON_RESCORE_THREADS"]) if os.environ.get("BATON_RESCORE_THREADS") else None
# Every minute: SLA warnings, breaches and escalations (each exactly once per clock).
CELERY_BEAT_SCHEDULE["sla-sweep"] = {"task": "handoff.sla_sweep", "schedule": 60.0}
# Every minute: automatic hand-offs whose wake-up the broker lost, and retries of those nobody could
# take (normally drained right after the MQL commits); and MQLs waiting too long for review.
CELERY_BEAT_SCHEDULE["drain-handoff-requests"] = {"task": "handoff.drain_handoff_requests", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["review-sweep"] = {"task": "handoff.review_sweep", "schedule": 60.0}
# Every minute: jobs no worker is working on are restarted (or failed, saying why); lost wake-ups resent.
CELERY_BEAT_SCHEDULE["sweep-stale-jobs"] = {"task": "leads.sweep_stale_jobs", "schedule": 60.0}
BATON_STALE_JOB_MINUTES = float(os.environ.get("BATON_STALE_JOB_MINUTES", "10"))
# Every five minutes: e-mail the notifications whose e-mail task was never sent (broker outage).
CELERY_BEAT_SCHEDULE["email-pending-notifications"] = {"task": "handoff.email_pending_notifications", "schedule": 300.0}
# Every minute: apply queued changes to the funnel report's pre-aggregation (reporting.funnel_facts).
CELERY_BEAT_SCHEDULE["refresh-funnel-facts"] = {"task": "reporting.refresh_funnel_facts", "schedule": 60.0}

# /healthz answers 503 when no worker, or beat, has written its heartbeat for this many seconds.
BATON_HEARTBEAT_STALE_SECONDS = int(os.environ.get("BATON_HEARTBEAT_STALE_SECONDS", "180"))

# Used in emailed links.
BATON_BASE_URL = os.environ.get("BATON_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
