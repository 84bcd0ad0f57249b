"""Settings, all read from the environment (or a `.env` file beside manage.py).

Every variable is listed in `.env.example`. The defaults boot the service and the tests
with nothing installed: SQLite in the checkout and the in-memory channel layer.
"""

import os
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"
# Keys that must never sign anything in production: ours and the ones in examples.
PLACEHOLDER_SECRET_KEYS = {DEV_SECRET_KEY, "change-me", "changeme", "secret", "..."}
MIN_SECRET_KEY_LENGTH = 50

# Off unless set: `make run`, the tests and .env.example turn it on for development.
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY if DEBUG else "")


def check_secret_key(key: str) -> None:
    """Refuse a key that is missing, short, repetitive or a placeholder (Django's W009 rules)."""
    if not key:
        raise ImproperlyConfigured("Set SECRET_KEY: DEBUG is off and there is none.")
    if (
        key in PLACEHOLDER_SECRET_KEYS
        or key.startswith("django-insecure")
        or len(key) < MIN_SECRET_KEY_LENGTH
        or len(set(key)) < 5
    ):
        raise ImproperlyConfigured(
            f"Set SECRET_KEY to a random value of at least {MIN_SECRET_KEY_LENGTH} characters: "
            "DEBUG is off and the key is short or a placeholder. Make one with: python -c "
            '"import secrets; print(secrets.token_urlsafe(50))"'
        )


if not DEBUG:
    check_secret_key(SECRET_KEY)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

# HTTPS. With DEBUG off every secure choice is on unless the environment turns it off;
# `manage.py check --deploy` is clean with nothing set but SECRET_KEY and ALLOWED_HOSTS.
# Behind a proxy that ends TLS, name the header it sets (SECURE_PROXY_SSL_HEADER, e.g.
# X-Forwarded-Proto) so that Django knows the request was HTTPS (wss:// URLs, redirects).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    # "X-Forwarded-Proto" (its value "https" means HTTPS) or "X-Forwarded-Proto: https".
    _name, _, _value = _proxy_ssl_header.partition(":")
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + _name.strip().upper().replace("-", "_"),
        _value.strip() or "https",
    )
# Origins allowed to POST forms when they differ from the Host header (scheme included), e.g.
# https://relay.example.com behind a proxy that rewrites Host.
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "csp",
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
    "csp.middleware.CSPMiddleware",
]

# Content-Security-Policy on every page (django-csp): scripts, styles and everything else from
# this site's own files only; no inline scripts, handlers or styles. The console's WebSocket
# goes to this same host, which 'self' covers for ws:// and wss://.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

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
# Every Redis client (the layer's, the registry's): a pooled connection to a Redis that
# restarted fails once and is replaced, instead of failing the frame that happened to pick it.
# One retry, at once: while Redis is down a frame is answered `unavailable` without delay.
REDIS_RETRY = {
    "retry": Retry(NoBackoff(), 1),
    "retry_on_error": [RedisConnectionError, RedisTimeoutError, ConnectionError],
}
REDIS_HOST = {"address": REDIS_URL, "socket_timeout": None, "max_connections": 1000, **REDIS_RETRY}
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
    # The client address of every request and socket (accounts/client_address.py): the header
    # trusted proxies append it to, e.g. "X-Forwarded-For", and how many proxies there are
    # (the address is that many entries from the right). Empty: the peer address.
    "TRUSTED_PROXY_HEADER": env.str("RELAY_TRUSTED_PROXY_HEADER", default=""),
    "TRUSTED_PROXY_COUNT": env.int("RELAY_TRUSTED_PROXY_COUNT", default=1),
    # A client that stops reading is closed with 4009 once this many bytes wait for it
    # beyond what the server's socket buffer holds.
    "OUTBOUND_LIMIT_BYTES": env.int("RELAY_OUTBOUND_LIMIT_BYTES", default=1024 * 1024),
    # /metrics (Prometheus) is open to loopback clients, and to anyone sending
    # "Authorization: Bearer <this token>" when it is set. Empty: loopback only.
    "METRICS_TOKEN": env.str("RELAY_METRICS_TOKEN", default=""),
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
    "filters": {"outage": {"()": "realtime.log_filters.BackingServiceOutage"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["outage"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
