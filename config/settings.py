"""Settings, all read from the environment (or a `.env` file beside manage.py).

Every variable is listed in `.env.example`. The defaults boot the service and the tests
with nothing installed: SQLite in the checkout and the in-memory channel layer.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY: DEBUG is off and the key is the development one.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "accounts",
    "projects",
    "realtime",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Server processes and tests write concurrently; wait for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # A file, not memory, so that server processes started by the tests share it; one per
    # test run, so that runs side by side do not share one.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f"test_db_{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("id", "Bahasa Indonesia")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # WhiteNoise serves static files with DEBUG off too; compressed, with hashed names when
    # `collectstatic` has run, and straight from the app folders when it has not.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "projects:home"

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Relay <noreply@localhost>")

# Channels. REDIS_URL set: every server process shares one channel layer and one connection
# registry in Redis. Unset: one process, everything in memory.
REDIS_URL = env.str("REDIS_URL", default="")
# With Redis: "pubsub" (RedisPubSubChannelLayer) or "core" (RedisChannelLayer, lists).
REDIS_LAYER = env.str("RELAY_REDIS_LAYER", default="core")
# redis-py 8 defaults to a 5 s socket timeout, which cuts the layer's blocking read and closes
# idle sockets with 1011: turn it off. Its pool raises past 100 connections: leave room for
# bursts of connects.
REDIS_HOST = {"address": REDIS_URL, "socket_timeout": None, "max_connections": 1000}
if REDIS_URL and REDIS_LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_HOST],
                "prefix": "relay:layer:",
            },
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_HOST],
                # Connections live for days; the default expiry (a day) silently drops
                # members from groups. Ten years is "never" for a live socket.
                "group_expiry": 10 * 365 * 24 * 3600,
                # Messages past a channel's capacity are dropped. Each server process has
                # one mailbox ("hub.*") carrying all of its connections' traffic: give it
                # room for bursts. Slow readers are handled per connection (4009).
                "capacity": 1000,
                "channel_capacity": {"hub.*": 100_000},
                "expiry": 60,
                "prefix": "relay:layer:",
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            # One mailbox per process (see realtime/hub.py); groups live as long as it does.
            "CONFIG": {"capacity": 100_000, "group_expiry": 10 * 365 * 24 * 3600},
        }
    }

# The cache holds login-failure counts; with Redis it is shared by every process.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "relay:cache",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The relay's own knobs (protocol limits that are not per project).
RELAY = {
    # Approval timeout override for tests and demos, in seconds; None uses the project's.
    "APPROVAL_TIMEOUT_OVERRIDE": env.float("RELAY_APPROVAL_TIMEOUT_OVERRIDE", default=None),
    # Header carrying the client address when a trusted proxy sits in front, e.g.
    # "X-Forwarded-For" (its last hop is taken). Empty: the socket's peer address.
    "TRUSTED_PROXY_HEADER": env.str("RELAY_TRUSTED_PROXY_HEADER", default=""),
    # A client that stops reading is closed with 4009 once this many bytes wait for it
    # beyond what the server's socket buffer holds.
    "OUTBOUND_LIMIT_BYTES": env.int("RELAY_OUTBOUND_LIMIT_BYTES", default=1024 * 1024),
    # The HTTP API (PROTOCOL.md §9): at most this many requests per project in each window
    # of this many seconds (a fixed window in the cache); past it, 429 with Retry-After.
    "API_RATE_REQUESTS": env.int("RELAY_API_RATE_REQUESTS", default=100),
    "API_RATE_WINDOW": env.int("RELAY_API_RATE_WINDOW", default=10),
    # Webhooks (projects/webhooks.py). Seconds to wait before each retry of a failed
    # delivery; past the last one the event is given up (the default spans about 37 hours).
    "WEBHOOK_RETRY_DELAYS": [
        float(s)
        for s in env.list(
            "RELAY_WEBHOOK_RETRY_DELAYS",
            default=["5", "300", "1800", "7200", "18000", "36000", "36000", "36000"],
        )
    ],
    # Seconds an endpoint has to answer one delivery.
    "WEBHOOK_TIMEOUT": env.float("RELAY_WEBHOOK_TIMEOUT", default=10.0),
    # Whether endpoints may be http://127.0.0.1 (development and tests). Off in production:
    # loopback, link-local and private addresses are then refused, when saved and when sent.
    "WEBHOOK_ALLOW_LOOPBACK": env.bool("RELAY_WEBHOOK_ALLOW_LOOPBACK", default=DEBUG),
    # Seconds a server process trusts what it read of a project's webhook endpoint.
    "WEBHOOK_CACHE_SECONDS": env.float("RELAY_WEBHOOK_CACHE_SECONDS", default=10.0),
}

# Background tasks (webhook deliveries) in the database; `manage.py db_worker` runs them
# (`make run` starts one beside the server).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
