"""Prometheus metrics at /metrics; one registry per application (tests run several).

Who may scrape: the numbers name no patient, but they tell an outsider how
busy each route is, which accounts log in and fail, and how many sockets are
open, so they are not public.

- With `metrics_token` set, every scrape must send
  `Authorization: Bearer <metrics_token>` (Prometheus: `authorization:
  {credentials_file: ...}` in the scrape config), from any address; without
  it or with another token: 401.
- Without it, only a direct request from this host (a loopback address, and
  no `Forwarded`, `X-Forwarded-For` or `X-Real-IP` header, which would mean
  a reverse proxy on this host passed it on) is answered; any other: 403,
  saying to set `metrics_token`.
"""

from __future__ import annotations

import hmac
import ipaddress
import time

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from signalling.http.errors import RequestHandler, json_error
from signalling.http.keys import platform_of

PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "telehealth_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "telehealth_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
        )
        self.socket_connections = Gauge(
            "telehealth_socketio_connections",
            "socket.io clients connected to this node",
            registry=self.registry,
        )
        self.logins = Counter(
            "telehealth_logins", "Log-in attempts", ["outcome"], registry=self.registry
        )


METRICS = web.AppKey("metrics", Metrics)


def _route_label(request: web.Request) -> str:
    # The route's template, never the raw path: unbounded label values would
    # grow the registry without limit.
    info = request.match_info
    resource = info.route.resource if info.route is not None else None
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: RequestHandler) -> web.StreamResponse:
    metrics = request.app[METRICS]
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = _route_label(request)
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)


def _is_direct_loopback(request: web.Request) -> bool:
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:  # a Unix socket or no address
        return False


def scrape_refusal(request: web.Request) -> web.Response | None:
    """The answer to a caller who may not read the metrics, or None."""
    token = platform_of(request).settings.metrics_token
    if token is None:
        if _is_direct_loopback(request):
            return None
        return json_error(
            403, "/metrics answers only this host; set metrics_token to scrape from elsewhere"
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
        return None
    response = json_error(401, "send Authorization: Bearer <metrics_token>")
    response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


async def metrics_handler(request: web.Request) -> web.Response:
    refused = scrape_refusal(request)
    if refused is not None:
        return refused
    body = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
