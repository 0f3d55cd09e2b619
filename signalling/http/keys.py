"""Typed keys for what the aiohttp application and requests carry."""

from __future__ import annotations

from aiohttp import web

from ..db.models import User
from ..platform import Platform

PLATFORM = web.AppKey("platform", Platform)
USER = "telehealth.user"  # request-scoped: the authenticated staff member, if any


def platform_of(request: web.Request) -> Platform:
    return request.app[PLATFORM]


def user_of(request: web.Request) -> User | None:
    user = request.get(USER)
    return user if isinstance(user, User) else None
