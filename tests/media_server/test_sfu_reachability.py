"""Announced address and ICE servers handed to clients."""

import re

from aiortc import RTCPeerConnection
from sfu_clients import NumberedVideoTrack, requires_network

from media_server.api import MediaConfig, MediaServer
from media_server.permissions import Permissions
from media_server.reachability import IceServer, TurnRest, announce_address


def test_turn_rest_credentials_are_the_ones_coturn_checks() -> None:
    turn = TurnRest(("turns:turn.example.org:443?transport=tcp",), secret="s3cret", ttl=86400)
    # reference computed independently:
    # echo -n "1700086400:alice" | openssl dgst -sha1 -hmac "s3cret" -binary | base64
    assert turn.credentials("alice", now=1_700_000_000) == (
        "1700086400:alice",
        "HJX0XIkrCiQCuU88Z0oeXj+QW60=",
    )


def test_clients_get_static_and_fresh_turn_servers() -> None:
    server = MediaServer(
        config=MediaConfig(
            client_ice_servers=(IceServer(("stun:stun.example.org:3478",)),),
            turn=TurnRest(("turn:turn.example.org:3478",), secret="s3cret", ttl=600),
        )
    )
    stun, turn = server.ice_servers_for("bob")
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    assert turn["urls"] == ["turn:turn.example.org:3478"]
    username = str(turn["username"])
    expiry, user = username.split(":")
    assert user == "bob" and int(expiry) > 0
    assert (
        TurnRest(("x",), "s3cret", ttl=600).credentials("bob", now=int(expiry) - 600)[1]
        == turn["credential"]
    )


def test_announce_address_rewrites_ipv4_host_candidates_only() -> None:
    sdp = "\r\n".join(
        [
            "v=0",
            "c=IN IP4 10.0.0.5",
            "a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host",
            "a=candidate:2 1 udp 2130706431 fd00::2 40001 typ host",
            "a=candidate:3 1 udp 1694498815 198.51.100.1 40002 typ srflx raddr 10.0.0.5 rport 1",
            "",
        ]
    )
    out = announce_address(sdp, "203.0.113.7").split("\r\n")
    assert out[1] == "c=IN IP4 203.0.113.7"
    assert out[2] == "a=candidate:1 1 udp 2130706431 203.0.113.7 40000 typ host"
    assert out[3:] == sdp.split("\r\n")[3:]


@requires_network
async def test_server_descriptions_carry_the_announced_address() -> None:
    server = MediaServer(config=MediaConfig(announced_address="203.0.113.7"))
    client = RTCPeerConnection()
    try:
        await server.create_room("r")
        await server.join("r", "alice", Permissions(may_publish_video=True))
        client.addTransceiver(NumberedVideoTrack(), direction="sendonly")
        await client.setLocalDescription(await client.createOffer())
        answer = await server.publish_offer("r", "alice", client.localDescription.sdp)
        hosts = re.findall(r"a=candidate:\S+ 1 udp \d+ (\S+) \d+ typ host", answer)
        ipv4 = [h for h in hosts if ":" not in h]
        assert ipv4 and set(ipv4) == {"203.0.113.7"}
    finally:
        await client.close()
        await server.close()
