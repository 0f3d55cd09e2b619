"""Shared real-time state: in-process by default, Redis when configured."""

from __future__ import annotations

from signalling.shared_state.base import SharedState, SharedStateUnavailable, Subscription
from signalling.shared_state.in_process import InProcessState
from signalling.shared_state.redis_state import RedisState

__all__ = [
    "InProcessState",
    "RedisState",
    "SharedState",
    "SharedStateUnavailable",
    "Subscription",
    "create_shared_state",
]


def create_shared_state(redis_url: str | None) -> SharedState:
    return RedisState(redis_url) if redis_url else InProcessState()
