"""Typed keys for what every aiohttp application and request carries.

Each feature declares its own keys in its package's ``keys.py``; these two are
the kernel's: the open platform and the authenticated caller.
"""

from __future__ import annotations

from aiohttp import web

from signalling.db.models import User
from signalling.platform import Platform

PLATFORM = web.AppKey("platform", Platform)
# Request-scoped: the authenticated staff member, if any.
USER = web.RequestKey("user", User)


def platform_of(request: web.Request) -> Platform:
    return request.app[PLATFORM]


def user_of(request: web.Request) -> User | None:
    return request[USER] if USER in request else None
