"""The imaging feature's application keys."""

from __future__ import annotations

from aiohttp import web

from signalling.imaging.desk import Imaging
from signalling.imaging.receiver import Receiver

IMAGING = web.AppKey("imaging", Imaging)
RECEIVER = web.AppKey("receiver", Receiver)
