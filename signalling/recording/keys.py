"""The recording feature's application keys."""

from __future__ import annotations

from aiohttp import web

from signalling.recording.consent import RecordingDesk

RECORDINGS = web.AppKey("recordings", RecordingDesk)
