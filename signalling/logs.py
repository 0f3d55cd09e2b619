"""Logging: one JSON object per line for collectors, plain text on a terminal."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

# LogRecord attributes that are not "extra" fields supplied by the caller.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class MalformedRequestFilter(logging.Filter):
    """A malformed HTTP request is the client's fault: one warning line, no traceback.

    aiohttp logs parser errors at ERROR with a traceback; scanners would fill
    the logs with them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            from aiohttp.http_exceptions import HttpProcessingError

            exc = record.exc_info[1]
            if isinstance(exc, HttpProcessingError):
                record.levelno, record.levelname = logging.WARNING, "WARNING"
                record.msg = f"malformed request refused: {exc.message.splitlines()[0]}"
                record.args = ()
                record.exc_info = None
                record.exc_text = None
        return True


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    handler = logging.StreamHandler(sys.stderr)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    if use_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aioice and aiortc narrate every candidate pair at INFO.
    logging.getLogger("aiohttp.server").addFilter(MalformedRequestFilter())
    for noisy in ("aioice", "aiortc", "engineio.server", "socketio.server", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
