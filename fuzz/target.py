"""What a fuzz target module provides to the driver."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    name: str
    one_input: Callable[[bytes], None]
    """Feed one input; returns on a refusal, raises on a finding."""
    seeds: Callable[[], Iterable[bytes]]
    """Real inputs to start from, built when the run starts."""
    max_len: int
    """Longest input libFuzzer makes (libFuzzer's -max_len)."""
    dictionary: tuple[bytes, ...] = field(default=())
    """Tokens the mutator splices in (field names, keywords)."""
    mutator: Callable[[bytes, int, int], bytes] | None = None
    """A structure-aware mutator (data, max size, seed) used instead of libFuzzer's."""
