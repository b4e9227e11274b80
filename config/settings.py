"""Django settings: embedded defaults (SQLite, eager Celery) unless the environment says otherwise.

DATABASE_URL  postgres://... → PostgreSQL; unset → SQLite file var/db.sqlite3
REDIS_URL     redis://...    → Celery broker, result backend and cache; unset → eager Celery,
                               local-memory cache
DEBUG         1/0 (default 0); SECRET_KEY is required when DEBUG is off
"""

import warnings
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY")
if SECRET_KEY is None:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if not DEBUG else ["*"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "config",
    "workforce",
    "marketplace",
    "qc",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "workforce.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASE_URL = env_url("DATABASE_URL", ("postgres", "postgresql", "sqlite"))
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Only the worker loop's statements are prepared on the server (config/db.py; Django
        # binds parameters on the client): their plans do not depend on the values, and
        # planning them anew each time is the cost the preparing saves.
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
            "-c plan_cache_mode=force_generic_plan"
        )
else:
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "var" / "db.sqlite3",
            # The dev server answers requests in threads. SQLite allows one writer: with
            # IMMEDIATE transactions a second one waits for the first instead of failing with
            # "database is locked" when its read turns into a write; WAL lets reads go on.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", ("redis", "rediss"))
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = "cache+memory://"
    # Without a broker the jobs run in-process; this is the embedded default, never a fallback
    # taken when a configured broker is down.
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "expire-leases": {"task": "marketplace.assignments_expire", "schedule": 60.0},
    # Manager analytics read rollups this job keeps up to date (docs/stats.md).
    "refresh-stats": {"task": "marketplace.stats_refresh", "schedule": 30.0},
}

# Argon2id with OWASP's minimum parameters (19 MiB, 2 passes): strong, yet cheap enough that a
# vendor can onboard a thousand workers in one request (hashed on all cores, see
# workforce.services). Older hashes stay verifiable and are upgraded on login.
PASSWORD_HASHERS = [
    "config.hashers.Argon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# The manager dashboard (marketplace.dashboard) signs in with Django sessions.
LOGIN_URL = "dashboard-login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "dashboard-login"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Uploaded import files wait here for their job (a Celery worker on another host needs this
# directory shared).
MEDIA_ROOT = BASE_DIR / "var" / "media"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    # SPEC §8: errors for a list are a list aligned with the input, `{}` for good items.
    "LIST_SERIALIZER_ERRORS_AS_DICT": False,
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50, minimum=1),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Crowdworks API",
    "DESCRIPTION": "Crowdsourcing workforce and task marketplace backend.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # SPEC §8: the schema and the docs need no credentials; whatever a client sends is ignored.
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "VendorStatusEnum": "workforce.models.Vendor.Status",
        "CenterStatusEnum": "workforce.models.DeliveryCenter.Status",
        "WorkerStatusEnum": "workforce.models.Worker.Status",
        "LanguageLevelEnum": ["A1", "A2", "B1", "B2", "C1", "C2", "native"],
    },
}

# DRF deprecates the aligned-list error format that SPEC §8 makes part of the contract; the
# tests pin that format, so an upgrade that removes it fails loudly there.
warnings.filterwarnings("ignore", message="The list-based error format for `ListSerializer`")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
