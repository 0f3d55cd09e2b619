"""Per-connection token buckets: a burst is fine, a flood is refused, then cut off."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    burst: float  # bucket size
    tokens: float = field(init=False)
    stamp: float = field(init=False, default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class ConnectionLimits:
    """The limits of one socket: chat, signalling, and how many refusals before cut-off."""

    chat: TokenBucket = field(default_factory=lambda: TokenBucket(rate=5, burst=10))
    signalling: TokenBucket = field(default_factory=lambda: TokenBucket(rate=30, burst=60))
    # a presenter scrolling or dragging a window sends at display rate
    view: TokenBucket = field(default_factory=lambda: TokenBucket(rate=60, burst=120))
    refusals: TokenBucket = field(default_factory=lambda: TokenBucket(rate=1, burst=50))

    def allow(self, event: str) -> bool:
        if event.startswith("chat."):
            return self.chat.take()
        if event.startswith("view."):
            return self.view.take()
        return self.signalling.take()

    def refused(self) -> bool:
        """Count a refusal; False means the connection has flooded and must be cut."""
        return self.refusals.take()
