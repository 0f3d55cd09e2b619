"""What a REST route declares of itself for the OpenAPI document, beside its handler.

``@api_doc(...)`` under the route's decorator records the summary, tag, body
model, parameters (a path's ``{id}``, ``{uid}``, ``{cf}``, ``{doc}``, ``{aid}``
are implied: PATH_PARAMS) and answers on the handler; signalling.openapi reads them
from the application's routes. One declaration per route: a /api route
without one fails the OpenAPI test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

ID_QUERY = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # path or query
    schema: dict[str, Any]
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class ApiDoc:
    summary: str
    tag: str
    ok: int = 200
    body: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    public: bool = False
    errors: tuple[int, ...] = field(default=(401,))
    media_type: str = "application/json"
    other_media_types: tuple[str, ...] = ()
    upload: bool = False  # a multipart/form-data body of files


H = TypeVar("H", bound=Callable[..., Any])
ATTRIBUTE = "api_doc"


def api_doc(
    summary: str,
    tag: str,
    *,
    ok: int = 200,
    body: type[BaseModel] | None = None,
    params: tuple[Param, ...] = (),
    public: bool = False,
    errors: tuple[int, ...] = (401,),
    media_type: str = "application/json",
    other_media_types: tuple[str, ...] = (),
    upload: bool = False,
) -> Callable[[H], H]:
    doc = ApiDoc(
        summary, tag, ok, body, params, public, errors, media_type, other_media_types, upload
    )

    def declare(handler: H) -> H:
        setattr(handler, ATTRIBUTE, doc)
        return handler

    return declare


def doc_of(handler: Callable[..., Any]) -> ApiDoc | None:
    doc = getattr(handler, ATTRIBUTE, None)
    return doc if isinstance(doc, ApiDoc) else None


# Parameters several routes share.
CONSULTATION_ID = Param("id", "path", {"type": "string", "maxLength": 64}, required=True)
UID = Param(
    "uid",
    "path",
    {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)*$", "maxLength": 64},
    required=True,
)
FRAME = Param("frame", "query", {"type": "integer", "minimum": 0, "maximum": 100_000})
WINDOW_PARAMS = (
    Param(
        "preset", "query", {"type": "string", "maxLength": 32}, description="lung, bone, file..."
    ),
    Param("center", "query", {"type": "number"}, description="window centre, with width"),
    Param("width", "query", {"type": "number"}, description="window width, with center"),
    Param("format", "query", {"type": "string", "enum": ["png", "webp"]}),
    Param("max_size", "query", {"type": "integer", "minimum": 16, "maximum": 8192}),
)
CASE_FILE_ID = Param("cf", "path", {"type": "string", "maxLength": 64}, required=True)
DOCUMENT_ID = Param("doc", "path", {"type": "string", "maxLength": 64}, required=True)
ATTACHMENT_ID = Param("aid", "path", {"type": "string", "maxLength": 64}, required=True)
# What a path parameter of these names is, unless its route declares otherwise
# (``/api/patients/{id}`` is a number): routes need not repeat them.
PATH_PARAMS = {p.name: p for p in (CONSULTATION_ID, UID, CASE_FILE_ID, DOCUMENT_ID, ATTACHMENT_ID)}
PATIENT_ID = Param(
    "id", "path", {"type": "integer", "minimum": 0, "maximum": 10**15 - 1}, required=True
)
