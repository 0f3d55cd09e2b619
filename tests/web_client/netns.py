"""A second host on this machine for browser tests: a network namespace joined to
the host by a veth pair, whose link a test can cut, restore or shape.

What is known about doing this here is in /work/shared/FIELD-NOTES.md; the
harness follows it:

- The kernel has ``tbf`` but not ``netem``: bandwidth is a tbf queue at each
  end (the namespace end for the uplink, the host end for the downlink);
  loss and outages are iptables DROP rules.
- The downlink is dropped in the namespace's INPUT; the uplink at the host
  end (the host's INPUT from the host-side veth), never in the namespace's
  OUTPUT, where a DROP makes ``sendto()`` fail and Chromium send again.
- Each place has a chain of its own; teardown removes the namespace, the
  veth and those chains in a ``finally`` and checks that nothing is left.

Chromium runs in the namespace through a wrapper executable (Playwright talks
to it over a pipe, which ``ip netns exec`` passes on), with the flags of
``conftest.CHROMIUM_ARGS`` and the server's origin treated as secure, since
the camera needs a secure origin and the server is reached over plain HTTP
at the host end's address.

The server must listen where the namespace reaches it: :func:`serve_on`
serves the real application on the host end's address (and loopback, for
pages on the host) with the building blocks of ``care_network.served_app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, Playwright, async_playwright

from signalling.app import build_app
from signalling.platform import Platform, open_platform
from signalling.settings import Settings
from tests.conftest import IN_CI
from tests.signalling.care_network import build_network
from tests.web_client.conftest import CHROMIUM_ARGS

# The /30s are taken from here: private, and far from what a machine usually has.
ADDRESS_POOL = ipaddress.IPv4Network("10.231.0.0/16")


class CommandFailed(RuntimeError):
    pass


async def run(*args: str, check: bool = True) -> tuple[int, str]:
    """Run a command; its exit code and what it printed (stdout and stderr)."""
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    text = out.decode(errors="replace")
    code = process.returncode if process.returncode is not None else -1
    if check and code != 0:
        raise CommandFailed(f"{' '.join(args)} exited {code}: {text.strip()}")
    return code, text


def unavailable(reason: str) -> None:
    """Skip here; fail in CI, which must be able to run these tests."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must have it)")
    pytest.skip(reason)


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        unavailable("network namespaces need root")
    for program in ("ip", "tc", "iptables", "sysctl"):
        if shutil.which(program) is None:
            unavailable(f"{program} is not installed")
    if shutil.which("chromium") is None:
        unavailable("chromium is not installed")


async def _used_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    _, text = await run("ip", "-4", "-o", "addr", "show")
    used = []
    for line in text.splitlines():
        words = line.split()
        if "inet" in words:
            used.append(ipaddress.ip_interface(words[words.index("inet") + 1]).network)
    return used


async def _free_subnet() -> ipaddress.IPv4Network:
    used = await _used_networks()
    subnets = list(ADDRESS_POOL.subnets(new_prefix=30))
    # A random start: two tests starting at once rarely pick the same /30.
    start = secrets.randbelow(len(subnets))
    for subnet in subnets[start:] + subnets[:start]:
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise RuntimeError(f"no free /30 left in {ADDRESS_POOL}")


@dataclass
class Namespace:
    """One namespace and its veth pair. ``host_addr`` is the host end's address
    (where a server listens for the namespace), ``ns_addr`` the namespace end's."""

    name: str
    host_if: str
    ns_if: str
    host_addr: str
    ns_addr: str
    prefix: int
    workdir: Path
    # the host chain (uplink, from the namespace) and the namespace's (downlink)
    host_chain: str
    ns_chain: str
    is_cut: bool = False
    loss: float = 0.0
    rate_kbit: int | None = None
    _chains_made: set[str] = field(default_factory=set)

    # --- running things -------------------------------------------------------------

    async def in_ns(self, *args: str, check: bool = True) -> tuple[int, str]:
        return await run("ip", "netns", "exec", self.name, *args, check=check)

    def origin(self, port: int) -> str:
        return f"http://{self.host_addr}:{port}"

    def chromium_wrapper(self) -> Path:
        """An executable that runs Debian's chromium inside the namespace."""
        chromium = shutil.which("chromium")
        assert chromium is not None
        ip = shutil.which("ip")
        assert ip is not None
        wrapper = self.workdir / f"chromium-in-{self.name}"
        wrapper.write_text(f'#!/bin/sh\nexec {ip} netns exec {self.name} {chromium} "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return wrapper

    async def launch(self, playwright: Playwright, origin: str) -> Browser:
        """Headless Chromium in the namespace, ``origin`` (the server's) treated as secure."""
        return await playwright.chromium.launch(
            executable_path=str(self.chromium_wrapper()),
            headless=True,
            args=[*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={origin}"],
        )

    # --- the link --------------------------------------------------------------------

    async def cut(self) -> None:
        """Drop everything, both ways (TCP, UDP, ICMP): an outage past the first hop,
        the link itself staying up."""
        self.is_cut = True
        await self._apply_filters()

    async def restore(self) -> None:
        """Back from a cut; a loss set with :meth:`shape` applies again."""
        self.is_cut = False
        await self._apply_filters()

    async def shape(
        self,
        rate_kbit: int | None,
        loss: float = 0.0,
        *,
        burst_kbit: int = 16,
        latency_ms: int = 400,
    ) -> None:
        """``rate_kbit`` each way (tbf at both ends; None: no limit) and random
        ``loss`` (0..1) each way."""
        if not 0 <= loss < 1:
            raise ValueError(f"loss must be in [0, 1): {loss}")
        self.rate_kbit, self.loss = rate_kbit, loss
        for prefix, device in ((("tc",), self.host_if), (("tc", "-n", self.name), self.ns_if)):
            if rate_kbit is None:
                await run(*prefix, "qdisc", "del", "dev", device, "root", check=False)
            else:
                await run(
                    *prefix,
                    "qdisc",
                    "replace",
                    "dev",
                    device,
                    "root",
                    "tbf",
                    "rate",
                    f"{rate_kbit}kbit",
                    "burst",
                    f"{burst_kbit}kbit",
                    "latency",
                    f"{latency_ms}ms",
                )
        await self._apply_filters()

    async def unshape(self) -> None:
        await self.shape(None, 0.0)

    async def _iptables(self, where: str, *args: str, check: bool = True) -> tuple[int, str]:
        command = ("iptables", "-w", "5", *args)
        if where == "host":
            return await run(*command, check=check)
        return await self.in_ns(*command, check=check)

    async def _apply_filters(self) -> None:
        rule: tuple[str, ...] = ()
        if self.is_cut:
            rule = ("-j", "DROP")
        elif self.loss > 0:
            rule = ("-m", "statistic", "--mode", "random", "--probability", f"{self.loss}")
            rule += ("-j", "DROP")
        for where, chain in (("host", self.host_chain), ("ns", self.ns_chain)):
            await self._iptables(where, "-F", chain)
            if rule:
                await self._iptables(where, "-A", chain, *rule)

    # --- set up and tear down --------------------------------------------------------

    async def _set_up(self) -> None:
        await run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        await run("ip", "link", "set", self.ns_if, "netns", self.name)
        # IPv4 only across the veth, so that the iptables rules see all of it.
        await run("sysctl", "-q", "-w", f"net.ipv6.conf.{self.host_if}.disable_ipv6=1")
        await self.in_ns("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
        await run("ip", "addr", "add", f"{self.host_addr}/{self.prefix}", "dev", self.host_if)
        await run("ip", "link", "set", self.host_if, "up")
        await run(
            "ip", "-n", self.name, "addr", "add", f"{self.ns_addr}/{self.prefix}", "dev", self.ns_if
        )
        await run("ip", "-n", self.name, "link", "set", self.ns_if, "up")
        await run("ip", "-n", self.name, "link", "set", "lo", "up")
        # Chromium's candidates are gathered once the address is usable (not tentative).
        await run("ip", "-n", self.name, "addr", "show", "dev", self.ns_if)
        await self._iptables("host", "-N", self.host_chain)
        self._chains_made.add("host")
        await self._iptables("host", "-I", "INPUT", "-i", self.host_if, "-j", self.host_chain)
        await self._iptables("ns", "-N", self.ns_chain)
        self._chains_made.add("ns")
        await self._iptables("ns", "-I", "INPUT", "-i", self.ns_if, "-j", self.ns_chain)

    async def _kill_processes(self) -> None:
        """What still runs in the namespace was started by this test (a browser
        that was not closed): end it, by pid, so the namespace can go."""
        code, text = await run("ip", "netns", "pids", self.name, check=False)
        if code != 0:
            return
        for pid in (int(word) for word in text.split() if word.isdigit()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            code, text = await run("ip", "netns", "pids", self.name, check=False)
            if code != 0 or not text.split():
                return
            await asyncio.sleep(0.1)

    async def _tear_down(self) -> None:
        await self._kill_processes()
        if "host" in self._chains_made:
            # the jump may have been added more than once by nobody; remove every copy
            while (
                await self._iptables(
                    "host", "-D", "INPUT", "-i", self.host_if, "-j", self.host_chain, check=False
                )
            )[0] == 0:
                pass
            await self._iptables("host", "-F", self.host_chain, check=False)
            await self._iptables("host", "-X", self.host_chain, check=False)
        # The namespace's chain goes with the namespace; the host end with its peer.
        await run("ip", "link", "del", self.host_if, check=False)
        await run("ip", "netns", "del", self.name, check=False)

    async def leftovers(self) -> list[str]:
        """What of this namespace still exists on the machine."""
        left = []
        _, names = await run("ip", "netns", "list", check=False)
        if self.name in names.split():
            left.append(f"namespace {self.name}")
        code, _ = await run("ip", "link", "show", "dev", self.host_if, check=False)
        if code == 0:
            left.append(f"link {self.host_if}")
        _, rules = await run("iptables", "-w", "5", "-S", check=False)
        left += [f"iptables: {line}" for line in rules.splitlines() if self.host_chain in line]
        _, addresses = await run("ip", "-4", "-o", "addr", "show", check=False)
        left += [
            f"address: {line}" for line in addresses.splitlines() if f" {self.host_addr}/" in line
        ]
        return left


@contextlib.asynccontextmanager
async def network_namespace(workdir: Path) -> AsyncIterator[Namespace]:
    """A namespace with a veth pair to the host and a /30 of its own, removed with
    everything the harness added when the block ends, however it ends."""
    check_prerequisites()
    tag = secrets.token_hex(3)
    subnet = await _free_subnet()
    host_addr, ns_addr = (str(address) for address in subnet.hosts())
    ns = Namespace(
        name=f"th-{tag}",
        host_if=f"thh{tag}",
        ns_if=f"thn{tag}",
        host_addr=host_addr,
        ns_addr=ns_addr,
        prefix=subnet.prefixlen,
        workdir=workdir,
        host_chain=f"TH-UP-{tag}",
        ns_chain=f"TH-DOWN-{tag}",
    )
    code, text = await run("ip", "netns", "add", ns.name, check=False)
    if code != 0:
        unavailable(f"ip netns does not work here: {text.strip()}")
    try:
        await ns._set_up()
        yield ns
    finally:
        await ns._tear_down()
        left = await ns.leftovers()
        assert not left, f"the namespace harness left behind: {left}"


@contextlib.asynccontextmanager
async def chromium_in(ns: Namespace, origin: str) -> AsyncIterator[Browser]:
    """A headless Chromium in the namespace, driven by its own Playwright."""
    async with async_playwright() as playwright:
        browser = await ns.launch(playwright, origin)
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def serve_on(
    settings: Settings,
    hosts: Sequence[str],
    port: int,
    *,
    seed: Callable[[Platform], Awaitable[object]] = build_network,
) -> AsyncIterator[tuple[Platform, web.Application]]:
    """The real application on a platform seeded by ``seed``, listening on ``port``
    of each of ``hosts`` (as ``care_network.served_app``, which binds loopback only).
    Set the settings' public_url to the address the namespace uses."""
    async with open_platform(settings, migrate=True) as platform:
        await seed(platform)
        app = build_app(platform)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            for host in hosts:
                await web.TCPSite(runner, host, port).start()
            yield platform, app
        finally:
            await runner.cleanup()


# --- what the page's connections do -----------------------------------------------------

# The selected candidate pair of each open RTCPeerConnection the page made
# (counted by test_call_browser.COUNT_PEER_CONNECTIONS, which keeps window.__pcs).
SELECTED_PAIRS = """async () => {
  const out = [];
  for (const pc of window.__pcs ?? []) {
    if (pc.connectionState === "closed") continue;
    const stats = await pc.getStats();
    let pairId = null;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    const pair = pairId ? stats.get(pairId) : null;
    const local = pair ? stats.get(pair.localCandidateId) : null;
    const remote = pair ? stats.get(pair.remoteCandidateId) : null;
    out.push({
      connection: pc.connectionState,
      ice: pc.iceConnectionState,
      local: local ? `${local.address}:${local.port}/${local.protocol}` : null,
      remote: remote ? `${remote.address}:${remote.port}/${remote.protocol}` : null,
      remoteAddress: remote ? remote.address : null,
      bytesReceived: pair ? pair.bytesReceived : null,
      bytesSent: pair ? pair.bytesSent : null,
    });
  }
  return out;
}"""


async def selected_pairs(page: Page) -> list[dict[str, Any]]:
    pairs: list[dict[str, Any]] = await page.evaluate(SELECTED_PAIRS)
    return pairs
