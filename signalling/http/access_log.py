"""The access log, with credentials taken out of query strings.

The platform never asks for a token in a URL (patient links carry theirs
after `#`, which browsers do not send), but clients do put them there
(`?token=`, `?access_token=` from OAuth habits, a pasted link), and an
access log is read by more people, kept longer and shipped further than
the database. So values of query parameters that name a credential are
replaced by `REDACTED` before the line is written; the parameter's name
stays, so that the line still says what was sent. Patient identifiers in a
query (`?identifier=` of the patient search) are redacted too: they are
patient data. The Referer header is not logged (pages send none:
Referrer-Policy no-referrer; anything else could carry another site's
tokens).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, quote

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

REDACTED = "REDACTED"
# Exact names (lower case); any name containing one of FRAGMENTS counts as well.
SENSITIVE_NAMES = frozenset(
    {
        "auth",
        "authorization",
        "code",
        "identifier",
        "jwt",
        "key",
        "sid",  # engine.io session id: who holds it speaks for the socket
        "sig",
        "signature",
    }
)
SENSITIVE_FRAGMENTS = ("token", "secret", "password", "passwd", "session", "api_key", "apikey")


def is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return lowered in SENSITIVE_NAMES or any(part in lowered for part in SENSITIVE_FRAGMENTS)


def redact_query(query_string: str) -> str:
    """The query string with the values of credential parameters replaced."""
    if not query_string:
        return ""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    return "&".join(
        f"{quote(name, safe='')}={REDACTED if is_sensitive(name) else quote(value, safe='')}"
        for name, value in pairs
    )


def redacted_target(request: BaseRequest) -> str:
    """The request's path (still percent-encoded, so no %0A becomes a line) and query."""
    path = request.raw_path.partition("?")[0]
    query = redact_query(request.query_string)
    return f"{path}?{query}" if query else path


class RedactingAccessLogger(AbstractAccessLogger):
    """One line per request: address, request line (redacted), status, size, time, agent."""

    def __init__(self, logger: logging.Logger, log_format: str = "") -> None:
        super().__init__(logger, log_format)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        target = redacted_target(request)
        version = f"HTTP/{request.version.major}.{request.version.minor}"
        agent = request.headers.get("User-Agent", "-")
        remote = request.remote or "-"
        self.logger.info(
            '%s "%s %s %s" %d %d %.3fs "%s"',
            remote,
            request.method,
            target,
            version,
            response.status,
            response.body_length,
            time,
            agent,
            extra={
                "remote_address": remote,
                "method": request.method,
                "target": target,
                "status": response.status,
                "response_size": response.body_length,
                "duration_s": round(time, 6),
                "user_agent": agent,
            },
        )
