"""Failed log-ins slow down the guesser, never the account's owner.

Failures are counted per (user name, client address) and per address, in
the shared state (so every node counts together), in fixed windows of the
lock-out time. A name that failed too often from one address is refused
from that address only, with the same answer as a wrong password; the
owner at another address is not affected, so nobody can lock anyone else
out. An address that fails too often, whatever the names, gets 429. If
the shared state is away, log-ins are not throttled (clinicians must get
in; `/readyz` says it is away) and a warning is logged.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from dataclasses import dataclass

from signalling.shared_state import SharedState, SharedStateUnavailable

log = logging.getLogger(__name__)


class Throttled(enum.StrEnum):
    NAME_AT_ADDRESS = "too many failures for this name from this address"
    ADDRESS = "too many failures from this address"


def _key(*parts: str) -> str:
    # Hashed: names and addresses of any length make keys of one size.
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class LoginThrottle:
    shared: SharedState
    max_failures: int  # per name and address
    address_failures: int  # per address, all names together
    window_s: float

    def _pair(self, username: str, address: str) -> str:
        return "login:failures:" + _key(username, address)

    def _address(self, address: str) -> str:
        return "login:failures:address:" + _key(address)

    async def blocked(self, username: str, address: str) -> Throttled | None:
        try:
            from_address = int(await self.shared.get(self._address(address)) or 0)
            for_name = int(await self.shared.get(self._pair(username, address)) or 0)
        except SharedStateUnavailable as exc:
            log.warning("log-in throttle not checked: %s", exc)
            return None
        if from_address >= self.address_failures:
            return Throttled.ADDRESS
        if for_name >= self.max_failures:
            return Throttled.NAME_AT_ADDRESS
        return None

    async def failed(self, username: str, address: str) -> None:
        try:
            await self.shared.incr(self._pair(username, address), ttl=self.window_s)
            await self.shared.incr(self._address(address), ttl=self.window_s)
        except SharedStateUnavailable as exc:
            log.warning("log-in failure not counted: %s", exc)

    async def succeeded(self, username: str, address: str) -> None:
        # The owner is in: their own mistypes from here are forgotten (not the address's).
        try:
            await self.shared.delete(self._pair(username, address))
        except SharedStateUnavailable as exc:
            log.warning("log-in failures not reset: %s", exc)
