"""Structure-aware mutations, next to libFuzzer's byte-level ones.

Byte flips rarely turn a valid SDP line or JSON payload into a different
valid one, which is where parsers trip (an attribute with only spaces as
its value, a number where a string goes). So half the time an input is
changed as lines (SDP) or as a JSON value (events, claims) instead.
The first byte of every input is the target's mode and is kept.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import atheris

Mutator = Callable[[bytes, int, int], bytes]

# values that parsers treat unevenly
_ODD_TEXT = ("", " ", "  ", "\t", "-", "0", "\x00", "\ud800", "é", "a" * 300, "1e309", "-1")
_ODD_JSON: tuple[Any, ...] = (
    None, True, False, 0, -1, 2**63, -(2**63) - 1, 2**53 + 1, 1e308, -0.0, 0.5, "", " ", "\x00",
    "\ud800", "a" * 5000, [], {}, [None], {"": None},
)  # fmt: skip


def _byte_level(data: bytes, max_size: int) -> bytes:
    return bytes(atheris.Mutate(data, max_size))


def line_mutator(separator: bytes = b"\r\n") -> Mutator:
    """Lines of ``key=value`` or ``a=name:value``: drop, repeat, swap, or
    change a value (to an odd one, or byte-mutated)."""

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if len(data) < 2 or rng.random() < 0.5:
            return _byte_level(data, max_size)
        head, body = data[:1], data[1:]
        lines = body.split(separator)
        at = rng.randrange(len(lines))
        operation = rng.randrange(4)
        if operation == 0 and len(lines) > 1:
            del lines[at]
        elif operation == 1:
            lines.insert(at, lines[at])
        elif operation == 2:
            other = rng.randrange(len(lines))
            lines[at], lines[other] = lines[other], lines[at]
        else:
            line = lines[at]
            cut = max(line.find(b":"), line.find(b"="))
            prefix, value = line[: cut + 1], line[cut + 1 :]
            if rng.random() < 0.5:
                value = rng.choice(_ODD_TEXT).encode("utf-8", "surrogatepass")
            else:
                value = _byte_level(value, max(len(value) * 2, 16))
            lines[at] = prefix + value
        return (head + separator.join(lines))[:max_size]

    return mutate


def _change(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """``value`` with one leaf, key or item changed."""
    if isinstance(value, dict) and value and depth < 8 and rng.random() < 0.8:
        key = rng.choice(list(value))
        choice = rng.randrange(4)
        copy = dict(value)
        if choice == 0:
            del copy[key]
        elif choice == 1:
            copy[rng.choice(("", key + "_", key.upper(), "extra"))] = copy[key]
        else:
            copy[key] = _change(copy[key], rng, depth + 1)
        return copy
    if isinstance(value, list) and value and depth < 8 and rng.random() < 0.8:
        at = rng.randrange(len(value))
        items = list(value)
        choice = rng.randrange(3)
        if choice == 0:
            del items[at]
        elif choice == 1:
            items.extend(items[at] for _ in range(rng.choice((1, 10, 300))))
        else:
            items[at] = _change(items[at], rng, depth + 1)
        return items
    if isinstance(value, str) and rng.random() < 0.5:
        return rng.choice((value + value, value[: len(value) // 2], f" {value} ", value + "\x00"))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or rng.random() < 0.5:
        return rng.choice(_ODD_JSON)
    return rng.choice((value + 1, value - 1, -value, value * 2**32, float(value), str(value)))


def json_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """The rest of the input as JSON, one part of it changed (else bytes)."""
    rng = random.Random(seed)
    if len(data) < 2 or rng.random() < 0.4:
        return _byte_level(data, max_size)
    try:
        value = json.loads(data[1:])
    except (ValueError, RecursionError):
        return _byte_level(data, max_size)
    changed = _change(value, rng)
    text = json.dumps(changed, ensure_ascii=rng.random() < 0.5)
    return (data[:1] + text.encode("utf-8", "surrogatepass"))[:max_size]
