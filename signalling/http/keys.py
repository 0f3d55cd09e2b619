"""Typed keys for what the aiohttp application and requests carry."""

from __future__ import annotations

from aiohttp import web

from ..cluster import RoomPlacement
from ..db.models import User
from ..nodes import NodeRegistry
from ..platform import Platform
from ..recording_consent import RecordingDesk
from ..rooms import Rooms

PLATFORM = web.AppKey("platform", Platform)
ROOMS = web.AppKey("rooms", Rooms)
NODES = web.AppKey("nodes", NodeRegistry)
PLACEMENT = web.AppKey("placement", RoomPlacement)
RECORDINGS = web.AppKey("recordings", RecordingDesk)
# Request-scoped: the authenticated staff member, if any.
USER = web.RequestKey("user", User)


def platform_of(request: web.Request) -> Platform:
    return request.app[PLATFORM]


def user_of(request: web.Request) -> User | None:
    return request[USER] if USER in request else None
