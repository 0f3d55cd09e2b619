"""The rooms feature's application keys."""

from __future__ import annotations

from aiohttp import web

from signalling.rooms.manager import Rooms

ROOMS = web.AppKey("rooms", Rooms)
