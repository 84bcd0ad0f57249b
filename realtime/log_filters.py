"""Logging: what is not the server's fault is one line in the log, not a traceback.

While Redis restarts, channels-redis's pub/sub layer logs its receive task's ConnectionError
with a traceback every second; the relay answers `unavailable` and recovers by itself, so
operators get a warning with the error instead (`BackingServiceOutage`). uvicorn logs a
client's invalid UTF-8 as an error with a traceback; it is the client's (`ClientInvalidText`).
Tracebacks of anything else are kept.
"""

import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)


def as_warning(record: logging.LogRecord, message: str) -> None:
    """Make `record` a one-line warning saying `message`."""
    record.msg = message
    record.args = ()
    record.exc_info = None
    record.exc_text = None
    if record.levelno > logging.WARNING:
        record.levelno, record.levelname = logging.WARNING, "WARNING"


class BackingServiceOutage(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, OUTAGE_ERRORS):
            as_warning(record, f"{record.getMessage()} (backing service unavailable: {error!r})")
        return True


class ClientInvalidText(logging.Filter):
    """uvicorn's "Invalid UTF-8 sequence received from client." (it closes with 1007)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, UnicodeDecodeError) and "UTF-8" in str(record.msg):
            as_warning(record, f"{record.getMessage()} Closed with 1007: {error}")
        return True
