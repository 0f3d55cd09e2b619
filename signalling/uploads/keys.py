"""The uploads feature's application keys."""

from __future__ import annotations

from aiohttp import web

from signalling.uploads.store import UploadStore

UPLOADS = web.AppKey("uploads", UploadStore)
