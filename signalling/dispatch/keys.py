"""The dispatch feature's application keys."""

from __future__ import annotations

from aiohttp import web

from signalling.dispatch.dispatcher import Dispatcher

DISPATCHER = web.AppKey("dispatcher", Dispatcher)
