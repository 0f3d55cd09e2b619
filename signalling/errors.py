"""Errors the control plane reports to its callers (CLI, REST, socket.io)."""

from __future__ import annotations


class PlatformError(Exception):
    """A request that cannot be done; the message is for the person who asked.

    `code`, where given, names the refusal for a client that explains it in the
    person's own language (a patient's page): stable, unlike the message.
    """

    status = 400

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class NotFound(PlatformError):
    status = 404


class Conflict(PlatformError):
    status = 409


class Forbidden(PlatformError):
    status = 403


class Unauthorized(PlatformError):
    status = 401
