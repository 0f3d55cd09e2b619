"""The ``telehealth`` command: serve, migrate, and administration of the network."""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import click

from signalling.audit import CLI
from signalling.auth.tokens import Audience
from signalling.db import migrations
from signalling.db.engine import check_database, create_engine, describe_url
from signalling.db.models import FacilityLevel, Role, Specialty
from signalling.errors import PlatformError
from signalling.logs import configure_logging
from signalling.platform import Platform, StartupError, open_platform
from signalling.private_files import private_dir
from signalling.settings import Settings, SettingsError, load_settings

T = TypeVar("T")
R = TypeVar("R")

_DURATION = re.compile(r"(\d+)\s*([smhd]?)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 60}


def parse_duration(text: str) -> timedelta:
    """'90' (minutes), '30m', '12h', '7d' or '45s'."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise click.BadParameter("use a number with s, m, h or d, e.g. 30m or 12h")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def run(coro: Coroutine[Any, Any, T]) -> T:  # as asyncio.run takes it
    try:
        return asyncio.run(coro)
    except (StartupError, PlatformError) as exc:
        raise click.ClickException(str(exc)) from None


def settings_options(
    *overrides: str,
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Adds --data-dir and --config to a command and hands it validated Settings.

    ``overrides`` names the command's own options that are settings too
    (serve's --host, --port, ...): given on the command line, they win.
    """

    def decorate(fn: Callable[..., R]) -> Callable[..., R]:
        @click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Data directory (SQLite file, blobs, keys). [env TELEHEALTH_DATA_DIR]",
        )
        @click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            envvar="TELEHEALTH_CONFIG",
            help="TOML settings file. [env TELEHEALTH_CONFIG]",
        )
        @functools.wraps(fn)
        def wrapper(data_dir: Path | None, config_file: Path | None, **kwargs: object) -> R:
            given = {name: kwargs.pop(name) for name in overrides}
            try:
                settings = load_settings(config_file, data_dir=data_dir, **given)
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
            # Administrative commands print their result; only warnings belong beside it.
            level = settings.log_level if fn.__name__ == "serve" else "WARNING"
            configure_logging(level, settings.log_format)
            return fn(settings, **kwargs)

        return wrapper

    return decorate


def with_platform(
    fn: Callable[[Platform], Awaitable[T]], settings: Settings, *, migrate: bool = False
) -> T:
    async def main() -> T:
        async with open_platform(settings, migrate=migrate) as platform:
            return await fn(platform)

    return run(main())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="telehealth")
def main() -> None:
    """Telehealth platform: video consultations, shared imaging and training between hospitals.

    Every command reads TELEHEALTH_* environment variables and, with --config, a TOML file.
    """


# serve / migrate -----------------------------------------------------------


@main.command()
@click.option("--host", help="Address to bind. [env TELEHEALTH_HOST, default 127.0.0.1]")
@click.option("--port", type=int, help="Port. [env TELEHEALTH_PORT, default 8080]")
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM certificate; serves HTTPS. [env TELEHEALTH_TLS_CERT]",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM private key. [env TELEHEALTH_TLS_KEY]",
)
@settings_options("host", "port", "tls_cert", "tls_key")
def serve(settings: Settings) -> None:
    """Serve the platform (web client, API, socket.io) until interrupted."""
    from signalling.server import serve as run_server

    run(run_server(settings))


@main.command()
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@settings_options()
def migrate(settings: Settings, revision: str) -> None:
    """Apply database migrations (safe to run on every start and from several nodes)."""

    async def go() -> None:
        engine = create_engine(settings.effective_database_url)
        try:
            try:
                await check_database(engine)
            except Exception as exc:
                raise StartupError(str(exc)) from None
            before = await migrations.current_revision(engine)
            await migrations.upgrade(engine, revision)
            after = await migrations.current_revision(engine)
        finally:
            await engine.dispose()
        where = describe_url(settings.effective_database_url)
        if before == after:
            click.echo(f"{where}: schema up to date ({after})")
        else:
            click.echo(f"{where}: migrated {before or 'empty'} -> {after}")

    private_dir(settings.data_dir)  # the SQLite file and signing key live here
    run(go())


# tokens ---------------------------------------------------------------------


@main.group()
def token() -> None:
    """Bearer tokens for scripts and integrations."""


@token.command("issue")
@click.option("--user", "username", required=True, help="The staff account the token acts as.")
@click.option("--ttl", help="Lifetime, e.g. 30m, 12h, 7d. [default: api_token_ttl_minutes]")
@settings_options()
def token_issue(settings: Settings, username: str, ttl: str | None) -> None:
    """Print a bearer token that the REST API and DICOMweb accept."""
    lifetime = parse_duration(ttl) if ttl else timedelta(minutes=settings.api_token_ttl_minutes)

    async def go(platform: Platform) -> str:
        from signalling.network.staff import get_user

        async with platform.db() as db:
            user = await get_user(db, username)
            if not user.is_active:
                raise PlatformError(f"{user.username} is disabled")
            token, claims = platform.signer.issue(
                subject=f"user:{user.id}", audience=Audience.API, ttl=lifetime
            )
        await platform.audit.record(
            CLI,
            "token.issue",
            object_type="user",
            object_id=str(user.id),
            detail={"token_id": claims.token_id, "expires_at": claims.expires_at.isoformat()},
        )
        return token

    click.echo(with_platform(go, settings))


# users ----------------------------------------------------------------------


@main.group()
def user() -> None:
    """Staff accounts."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--facility", "facility_code", help="Facility code (not needed for admins).")
@click.option("--full-name", default="", help="Name shown to others.")
@click.option(
    "--specialty",
    "specialties",
    multiple=True,
    type=click.Choice([s.value for s in Specialty]),
    help="Repeat for several (specialists).",
)
@click.password_option("--password", help="At least 10 characters; asked for when not given.")
@settings_options()
def user_add(
    settings: Settings,
    username: str,
    role: str,
    facility_code: str | None,
    full_name: str,
    specialties: tuple[str, ...],
    password: str,
) -> None:
    """Create a staff account."""

    async def go(platform: Platform) -> None:
        from signalling.network.facilities import get_facility
        from signalling.network.staff import add_user

        async with platform.db() as db:
            facility = await get_facility(db, facility_code) if facility_code else None
            created = await add_user(
                db,
                username=username,
                full_name=full_name,
                role=Role(role),
                password=password,
                facility=facility,
                specialties=[Specialty(s) for s in specialties],
            )
            await db.commit()
        await platform.audit.record(
            CLI,
            "user.add",
            object_type="user",
            object_id=str(created.id),
            detail={"username": created.username, "role": created.role.value},
        )
        click.echo(f"added {created.username} ({created.role.value})")

    with_platform(go, settings)


class _UserRow(TypedDict):
    username: str
    full_name: str
    role: str
    facility: str | None
    specialties: list[str]
    active: bool


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@settings_options()
def user_list(settings: Settings, as_json: bool) -> None:
    """List staff accounts."""

    async def go(platform: Platform) -> list[_UserRow]:
        from sqlalchemy import select

        from signalling.db.models import Facility
        from signalling.network.staff import list_users

        async with platform.db() as db:
            codes = {f.id: f.code for f in await db.scalars(select(Facility))}
            return [
                {
                    "username": u.username,
                    "full_name": u.full_name,
                    "role": u.role.value,
                    "facility": codes.get(u.facility_id) if u.facility_id else None,
                    "specialties": u.specialties,
                    "active": u.is_active,
                }
                for u in await list_users(db)
            ]

    rows = with_platform(go, settings)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        state = "" if r["active"] else "  [disabled]"
        spec = f"  {','.join(r['specialties'])}" if r["specialties"] else ""
        click.echo(
            f"{r['username']:<20} {r['role']:<10} {r['facility'] or '-':<12} {r['full_name']}"
            f"{spec}{state}"
        )


def _set_active(settings: Settings, username: str, active: bool) -> None:
    async def go(platform: Platform) -> None:
        from signalling.auth.login_sessions import end_sessions_of
        from signalling.network.staff import set_active

        async with platform.db() as db:
            changed = await set_active(db, username, active)
            if not active:
                await end_sessions_of(db, changed.id)
            await db.commit()
        await platform.audit.record(
            CLI,
            "user.enable" if active else "user.disable",
            object_type="user",
            object_id=str(changed.id),
        )
        click.echo(f"{changed.username} {'enabled' if active else 'disabled'}")

    with_platform(go, settings)


@user.command("disable")
@click.argument("username")
@settings_options()
def user_disable(settings: Settings, username: str) -> None:
    """Disable an account and end its log-in sessions; its tokens stop working."""
    _set_active(settings, username, False)


@user.command("enable")
@click.argument("username")
@settings_options()
def user_enable(settings: Settings, username: str) -> None:
    """Enable a disabled account."""
    _set_active(settings, username, True)


# facilities -----------------------------------------------------------------


@main.group()
def facility() -> None:
    """Facilities of the network and their pairings."""


@facility.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--level", type=click.Choice([lv.value for lv in FacilityLevel]), required=True)
@click.option("--province", required=True)
@settings_options()
def facility_add(settings: Settings, code: str, name: str, level: str, province: str) -> None:
    """Add a facility (hospital or health centre)."""

    async def go(platform: Platform) -> None:
        from signalling.network.facilities import add_facility

        async with platform.db() as db:
            created = await add_facility(
                db, code=code, name=name, level=FacilityLevel(level), province=province
            )
            await db.commit()
        click.echo(f"added {created.code} ({created.level.value})")

    with_platform(go, settings)


@facility.command("list")
@settings_options()
def facility_list(settings: Settings) -> None:
    """List facilities and the pairings between them."""

    async def go(platform: Platform) -> list[str]:
        from signalling.network.facilities import list_facilities, list_pairings

        async with platform.db() as db:
            lines = [
                f"{f.code:<12} {f.level.value:<10} {f.province:<20} {f.name}"
                for f in await list_facilities(db)
            ]
            pairings = await list_pairings(db)
            if pairings:
                lines.append("")
                lines.append("pairings:")
                lines += [
                    f"  {p.central.code} -> {p.partner.code}  ({p.specialty or 'all specialties'})"
                    for p in pairings
                ]
        return lines

    for line in with_platform(go, settings):
        click.echo(line)


@facility.command("pair")
@click.argument("central")
@click.argument("partner")
@click.option("--specialty", type=click.Choice([s.value for s in Specialty]), default=None)
@settings_options()
def facility_pair(settings: Settings, central: str, partner: str, specialty: str | None) -> None:
    """Let central hospital CENTRAL support facility PARTNER (for one specialty or all)."""

    async def go(platform: Platform) -> None:
        from signalling.network.facilities import pair

        async with platform.db() as db:
            await pair(
                db,
                central_code=central,
                partner_code=partner,
                specialty=Specialty(specialty) if specialty else None,
            )
            await db.commit()
        click.echo(f"paired {central.upper()} -> {partner.upper()}")

    with_platform(go, settings)


# invites and demo -------------------------------------------------------------


@main.command()
@click.option("--room", required=True, help="The room the patient joins.")
@click.option("--patient", "patient_name", default="", help="Patient's name, shown in the lobby.")
@click.option("--ttl", help="How long the link stays valid, e.g. 30m, 2h. [default 60m]")
@click.option(
    "--starts-at",
    type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]),
    help="Appointment time (UTC); the link opens 15 minutes before.",
)
@settings_options()
def invite(
    settings: Settings,
    room: str,
    patient_name: str,
    ttl: str | None,
    starts_at: datetime | None,
) -> None:
    """Print a patient link for a room: valid for a short time, usable once."""
    lifetime = parse_duration(ttl) if ttl else timedelta(minutes=settings.invite_ttl_minutes)

    async def go(platform: Platform) -> str:
        from signalling.rooms.invites import create_invite

        async with platform.db() as db:
            issued = await create_invite(
                db,
                platform.signer,
                room=room,
                public_url=settings.effective_public_url,
                ttl=lifetime,
                patient_name=patient_name,
                starts_at=starts_at.replace(tzinfo=UTC) if starts_at else None,
            )
            await db.commit()
        await platform.audit.record(
            CLI,
            "invite.create",
            object_type="room",
            object_id=room,
            detail={"invite_id": issued.invite_id, "expires_at": issued.expires_at.isoformat()},
        )
        return issued.url

    click.echo(with_platform(go, settings))


@main.group()
def audit() -> None:
    """The append-only, hash-chained audit log."""


@audit.command("verify")
@settings_options()
def audit_verify(settings: Settings) -> None:
    """Check the hash chain; exit 1 and name the first bad row if it is broken."""

    async def go(platform: Platform) -> None:
        report = await platform.audit.verify()
        await platform.audit.record(CLI, "audit.verify", detail={"intact": report.intact})
        if not report.intact:
            raise PlatformError(f"audit chain broken after {report.rows} rows: {report.problem}")
        click.echo(f"audit chain intact: {report.rows} rows, head {report.head}")

    with_platform(go, settings)


@audit.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--object", "object_id", default=None, help="Only events about this object id.")
@settings_options()
def audit_list(settings: Settings, limit: int, object_id: str | None) -> None:
    """Print the latest audit events, newest first (reading the log is itself audited)."""

    async def go(platform: Platform) -> None:
        events = await platform.audit.events(limit=limit, object_id=object_id)
        await platform.audit.record(CLI, "audit.read", detail={"rows": len(events)})
        for e in events:
            target = f" {e.object_type}:{e.object_id}" if e.object_type else ""
            click.echo(
                f"{e.id:>7} {e.at:%Y-%m-%d %H:%M:%S} {e.actor:<24} {e.action:<16} "
                f"{e.outcome:<7}{target}"
            )

    with_platform(go, settings)


@main.group()
def recordings() -> None:
    """Recordings kept by this platform."""


@recordings.command("purge")
@settings_options()
def recordings_purge(settings: Settings) -> None:
    """Delete recordings older than recording_retention_days (audited)."""

    async def go(platform: Platform) -> int:
        from signalling.recording.retention import purge_expired

        return await purge_expired(platform, CLI)

    if settings.recording_retention_days is None:
        raise click.ClickException("recording_retention_days is not set; nothing is purged")
    click.echo(f"removed {with_platform(go, settings)} recording files")


@main.command()
@click.option(
    "--password",
    default=None,
    help="Password for every demo account (at least 10 characters); random when not given.",
)
@settings_options()
def demo(settings: Settings, password: str | None) -> None:
    """Load a small demo network: 2 central and 3 district hospitals with their staff."""

    async def go(platform: Platform) -> None:
        from signalling.network.demo import load_demo

        for line in await load_demo(platform, password):
            click.echo(line)

    with_platform(go, settings, migrate=True)
