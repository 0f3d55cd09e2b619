"""Target ``tokens``: what a client presents as a token, through TokenSigner.verify.

The first byte picks the mode. ``text``: the rest as the string a client
sends (a bearer header, a cookie, ``room.join``'s token), decoded as aiohttp
decodes header bytes (UTF-8, undecodable bytes kept as surrogates). ``claims``:
the rest is a JSON claim set signed with the server's key, so the checks
after the signature see arbitrary claims too (only the key holder can make
those: it guards against the server's own mistakes). Both are verified for
the api and the room audience, and for a room; :class:`InvalidToken` is the
refusal. Seeds are tokens the signer issues: api, room with grants, patient
link, and their claim sets.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from datetime import timedelta

import jwt

from signalling.auth.tokens import ALGORITHM, Audience, Grant, InvalidToken, TokenSigner

from .mutators import json_mutator
from .target import Target

_KEY = b"fuzzing-key-" + b"k" * 32  # a test key, never a server's
_SIGNER = TokenSigner(_KEY)
_MODES = ("text", "claims")
_ROOM = "room-1"


def _verify_everywhere(token: str) -> None:
    for audience, room in ((Audience.API, None), (Audience.ROOM, None), (Audience.ROOM, _ROOM)):
        try:
            _SIGNER.verify(token, audience=audience, room=room)
        except InvalidToken:
            pass


def one_input(data: bytes) -> None:
    if not data:
        return
    mode = _MODES[data[0] % len(_MODES)]
    rest = data[1:]
    if mode == "text":
        _verify_everywhere(rest.decode("utf-8", "surrogateescape"))
        return
    try:
        claims = json.loads(rest)
    except (ValueError, RecursionError):
        return
    if not isinstance(claims, dict):
        return  # PyJWT signs only a mapping
    try:
        token = jwt.encode(claims, _KEY, algorithm=ALGORITHM)
    except (TypeError, ValueError, OverflowError):
        return  # not a claim set the key holder could have signed
    _verify_everywhere(token)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _mutate(data: bytes, max_size: int, seed: int) -> bytes:
    """Claim sets as JSON; tokens as their three parts: a header naming
    another algorithm, claims changed under the old signature, parts
    dropped or repeated (else libFuzzer's byte mutations)."""
    if data[:1] != bytes([_MODES.index("text")]):
        return json_mutator(data, max_size, seed)
    rng = random.Random(seed)
    parts = data[1:].split(b".")
    if len(parts) != 3 or rng.random() < 0.4:
        return json_mutator(data, max_size, seed)  # bytes, as it is no JSON
    operation = rng.randrange(4)
    if operation == 0:
        algorithm = rng.choice(("none", "None", "HS512", "RS256", "ES256", ""))
        parts[0] = _b64(json.dumps({"alg": algorithm, "typ": "JWT"}).encode())
    elif operation == 1:
        claims = bytes([_MODES.index("claims")]) + _claims_of(data[1:].decode(errors="replace"))
        changed = json_mutator(claims, max_size, seed)[1:]
        parts[1] = _b64(changed)
    elif operation == 2:
        del parts[rng.randrange(3)]
    else:
        parts.insert(rng.randrange(4), parts[rng.randrange(3)])
    return (data[:1] + b".".join(parts))[:max_size]


def _issued() -> list[str]:
    ttl = timedelta(hours=1)
    tokens = [
        _SIGNER.issue(subject="17", audience=Audience.API, ttl=ttl)[0],
        _SIGNER.issue(
            subject="u5", audience=Audience.ROOM, ttl=ttl, room=_ROOM, grants=frozenset(Grant)
        )[0],
        _SIGNER.issue(
            subject="p9",
            audience=Audience.ROOM,
            ttl=ttl,
            room=_ROOM,
            grants=frozenset({Grant.CHAT, Grant.SUBSCRIBE}),
            invite="inv-1",
            name="Nguyễn Văn A",
        )[0],
    ]
    # and one that expired, for the leeway and expiry checks
    tokens.append(_SIGNER.issue(subject="3", audience=Audience.API, ttl=timedelta(seconds=-60))[0])
    return tokens


def _claims_of(token: str) -> bytes:
    body = token.split(".")[1]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        return b"{}"


def seeds() -> Iterator[bytes]:
    for token in _issued():
        yield bytes([_MODES.index("text")]) + token.encode()
        yield bytes([_MODES.index("claims")]) + _claims_of(token)
    yield bytes([_MODES.index("text")]) + b"Bearer "


TARGET = Target(
    mutator=_mutate,
    name="tokens",
    one_input=one_input,
    seeds=seeds,
    max_len=8192,  # past room.join's 4096 characters
    dictionary=(
        b'"iss"',
        b'"sub"',
        b'"aud"',
        b'"jti"',
        b'"iat"',
        b'"nbf"',
        b'"exp"',
        b'"room"',
        b'"grants"',
        b'"invite"',
        b'"name"',
        b'"alg"',
        b'"none"',
        b'"HS256"',
        b'"RS256"',
        b'"telehealth"',
        b'"api"',
        b'"room"',
        b'"chat"',
        b'"moderate"',
        b"1e308",
        b"-1",
        b"99999999999999",
        b"253402300800",
        b"null",
        b"[]",
        b"{}",
        b"eyJ",
        b".",
    ),
)
