"""Logging: a backing service that is down is one line in the log, not a traceback.

While Redis restarts, channels-redis's pub/sub layer logs its receive task's ConnectionError
with a traceback every second; the relay answers `unavailable` and recovers by itself, so
operators get a warning with the error instead. Tracebacks of anything else are kept.
"""

import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)


class BackingServiceOutage(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, OUTAGE_ERRORS):
            record.msg = f"{record.getMessage()} (backing service unavailable: {error!r})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
