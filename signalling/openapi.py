"""The REST API's OpenAPI 3.1 document, served at /api/openapi.json.

Built from the application's routes: each /api handler declares itself with
``@api_doc`` (signalling.http.api_docs) beside its route, and request bodies
come from the same pydantic models the handlers validate with, so the
document cannot drift from what is enforced; a test checks that every /api
route is declared.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from signalling.http.api_docs import PATH_PARAMS, ApiDoc, doc_of

# (method, path as routed, handler): from an application's router or a route table
Route = tuple[str, str, Callable[..., Any]]

ERRORS = {
    400: "invalid input; `field` names the field",
    401: "not logged in, or the token is invalid",
    403: "not allowed",
    404: "not found",
    409: "conflicts with the current state",
    412: "a precondition failed (tus: Tus-Resumable is not 1.0.0)",
    413: "body too large",
    415: "send JSON",
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as documented: {name}, without the route's pattern
    doc: ApiDoc


_PATTERN = re.compile(r"\{(\w+):(?:[^{}]|\{[^{}]*\})*\}")


def documented_path(path: str) -> str:
    """``/api/patients/{id:\\d{1,15}}`` as OpenAPI writes it: ``/api/patients/{id}``."""
    return _PATTERN.sub(r"{\1}", path)


def operations(routes: Iterable[Route]) -> list[Operation]:
    """The declared routes, in the order they were added (HEAD, added with GET, left out)."""
    found = []
    for method, path, handler in routes:
        doc = doc_of(handler)
        if doc is not None and method != "HEAD":
            documented = documented_path(path)
            found.append(Operation(method.lower(), documented, _with_path_params(doc, documented)))
    return found


def _with_path_params(doc: ApiDoc, path: str) -> ApiDoc:
    """The path's parameters a route does not declare, in path order, before its own."""
    named = {p.name for p in doc.params}
    implied = tuple(
        PATH_PARAMS[name]
        for name in re.findall(r"\{(\w+)\}", path)
        if name not in named and name in PATH_PARAMS
    )
    return dataclasses.replace(doc, params=implied + doc.params) if implied else doc


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "for the person who asked, in English"},
            "field": {"type": "string"},
            "code": {
                "type": "string",
                "description": "names the refusal, stable, for a page that explains it "
                "in the person's language (not_found, session_ended, training_ended, ...)",
            },
        },
    }


def openapi_document(routes: Iterable[Route], version: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _error_schema()}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations(routes):
        entry: dict[str, Any] = {
            "summary": op.doc.summary,
            "tags": [op.doc.tag],
            "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_')}".replace("{", "")
            .replace("}", "")
            .replace("-", "_"),
            "responses": {
                str(op.doc.ok): {"description": "done"}
                if op.doc.ok == 204  # no content, by definition (RFC 9110)
                else {
                    "description": "done",
                    "content": {
                        media_type: {
                            "schema": {"type": "object"}
                            if media_type == "application/json"
                            else {"type": "string"}
                        }
                        for media_type in (op.doc.media_type, *op.doc.other_media_types)
                    },
                },
                **{
                    str(code): {
                        "description": ERRORS[code],
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                    for code in op.doc.errors
                },
            },
        }
        if op.doc.public:
            entry["security"] = []
        if op.doc.params:
            entry["parameters"] = [
                {
                    "name": p.name,
                    "in": p.where,
                    "required": p.required,
                    "schema": p.schema,
                    **({"description": p.description} if p.description else {}),
                }
                for p in op.doc.params
            ]
        if op.doc.body is not None:
            schema = op.doc.body.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components[op.doc.body.__name__] = schema
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{op.doc.body.__name__}"}
                    }
                },
            }
        if op.doc.upload:
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["files"],
                            "properties": {
                                "files": {
                                    "type": "array",
                                    "items": {"type": "string", "format": "binary"},
                                }
                            },
                        }
                    }
                },
            }
        paths.setdefault(op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Telehealth platform API",
            "version": version,
            "description": "Staff authenticate with the log-in cookie or a bearer token "
            "(`telehealth token issue`). Real-time events travel over socket.io; "
            "see docs/PROTOCOL.md.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "th_session"},
            },
        },
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": paths,
    }


async def openapi_handler(request: web.Request) -> web.Response:
    from importlib.metadata import version

    return web.json_response(openapi_document(app_routes(request.app), version("telehealth")))


def app_routes(app: web.Application) -> Iterable[Route]:
    for route in app.router.routes():
        if route.resource is not None:
            yield route.method, route.resource.canonical, route.handler
