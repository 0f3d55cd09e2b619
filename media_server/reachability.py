"""How clients reach the media plane: announced address and ICE servers.

A server behind a 1:1 NAT (a cloud VM, a hospital DMZ) gathers only its
private address; :func:`announce_address` rewrites the IPv4 host
candidates of the descriptions the server sends so that clients try the
public one instead, as mediasoup's `announcedIp` does. The NAT must keep
ports, since the candidates keep theirs.

Clients behind strict firewalls relay over TURN (e.g. TURN/TLS on 443).
:class:`TurnRest` makes time-limited credentials in the TURN REST style
that coturn checks with `use-auth-secret`: the username is
"<expiry unix time>:<user>" and the password is
base64(HMAC-SHA1(secret, username)), so no TURN account is ever stored.
"""

import base64
import hashlib
import hmac
import ipaddress
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class IceServer:
    """One entry of the `iceServers` list a browser's RTCPeerConnection takes."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def to_json(self) -> dict[str, object]:
        entry: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            entry["username"] = self.username
        if self.credential is not None:
            entry["credential"] = self.credential
        return entry


@dataclass(frozen=True)
class TurnRest:
    urls: tuple[str, ...]
    secret: str
    ttl: int = 24 * 3600
    """Seconds the credentials stay valid."""

    def credentials(self, user: str, now: float | None = None) -> tuple[str, str]:
        """(username, password) valid for `ttl` seconds from `now`."""
        expiry = int(time.time() if now is None else now) + self.ttl
        username = f"{expiry}:{user}"
        digest = hmac.new(self.secret.encode(), username.encode(), hashlib.sha1).digest()
        return username, base64.b64encode(digest).decode("ascii")

    def ice_server(self, user: str, now: float | None = None) -> IceServer:
        username, credential = self.credentials(user, now)
        return IceServer(self.urls, username, credential)


def announce_address(sdp: str, address: str) -> str:
    """Put `address` in place of the IPv4 host candidates and connection lines of `sdp`."""
    announced = ipaddress.IPv4Address(address)
    lines = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:"):
            fields = line.split(" ")
            # foundation component transport priority address port "typ" type ...
            if len(fields) >= 8 and fields[7] == "host" and _is_ipv4(fields[4]):
                fields[4] = str(announced)
                line = " ".join(fields)
        elif line.startswith("c=IN IP4 "):
            line = f"c=IN IP4 {announced}"
        lines.append(line)
    return "\r\n".join(lines)


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True
