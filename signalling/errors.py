"""Errors the control plane reports to its callers (CLI, REST, socket.io)."""

from __future__ import annotations


class PlatformError(Exception):
    """A request that cannot be done; the message is for the person who asked."""

    status = 400


class NotFound(PlatformError):
    status = 404


class Conflict(PlatformError):
    status = 409


class Forbidden(PlatformError):
    status = 403


class Unauthorized(PlatformError):
    status = 401
