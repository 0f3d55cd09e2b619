"""Serves the browser application from web_client/ and its npm-installed vendor scripts."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

WEB_CLIENT_DIR = Path(__file__).resolve().parents[2] / "web_client"

# Third-party browser scripts, each from its npm package (web_client/package-lock.json).
VENDOR_FILES = {
    "socket.io.esm.min.js": Path("socket.io-client/dist/socket.io.esm.min.js"),
    # tus-js-client 4 ships no self-contained ES module; its UMD build sets window.tus
    "tus.min.js": Path("tus-js-client/dist/tus.min.js"),
}


class MissingClientDependencies(Exception):
    pass


def check_web_client(root: Path = WEB_CLIENT_DIR) -> None:
    missing = [
        str(rel) for rel in VENDOR_FILES.values() if not (root / "node_modules" / rel).is_file()
    ]
    if not (root / "index.html").is_file() or missing:
        raise MissingClientDependencies(
            f"the web client in {root} is incomplete ({', '.join(missing) or 'index.html'} "
            "missing); run `make install` (npm ci in web_client/)"
        )


def add_web_client_routes(app: web.Application, root: Path = WEB_CLIENT_DIR) -> None:
    index = root / "index.html"

    async def page(request: web.Request) -> web.FileResponse:
        # The same shell for every client-side route; the page reads location.
        response = web.FileResponse(index)
        response.headers["Cache-Control"] = "no-cache"
        return response

    async def vendor(request: web.Request) -> web.FileResponse:
        rel = VENDOR_FILES.get(request.match_info["name"])
        if rel is None:
            raise web.HTTPNotFound()
        response = web.FileResponse(root / "node_modules" / rel)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    app.router.add_get("/", page)
    app.router.add_get("/join", page)
    app.router.add_get("/vendor/{name}", vendor)
    app.router.add_static("/static/", root / "src", append_version=False)
