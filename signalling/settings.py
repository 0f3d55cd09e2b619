"""Platform settings: defaults < TOML file < ``TELEHEALTH_*`` environment < command line.

Everything is validated when the process starts; a bad value stops it with
one line naming the setting (see :class:`SettingsError`).
"""

from __future__ import annotations

import contextvars
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "TELEHEALTH_"

# The TOML file's contents for the Settings() call in progress; a context
# variable rather than a class attribute so that concurrent loads (tests)
# cannot see each other's file.
_toml_values: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "_toml_values", default=None
)


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    host: str = Field("127.0.0.1", min_length=1, description="Address the HTTP server binds.")
    port: int = Field(8080, ge=1, le=65535, description="HTTP port.")
    data_dir: Path = Field(
        Path("data"), description="SQLite file, blob store and generated secrets live here."
    )
    shared_dir: Path | None = Field(
        None,
        description="Blob store (DICOM, attachments) and recordings here instead of the "
        "data dir; on a cluster, a directory every node mounts.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL; default a SQLite file in the data dir. "
        "PostgreSQL: postgresql+asyncpg://user@host/db",
    )
    redis_url: str | None = Field(
        None, description="redis://host:port/db; unset keeps shared state in-process."
    )
    public_url: str | None = Field(
        None, description="Address users reach, for links (default http(s)://host:port)."
    )
    tls_cert: Path | None = Field(None, description="PEM certificate; serves HTTPS with tls_key.")
    tls_key: Path | None = Field(None, description="PEM private key for tls_cert.")
    signing_key: SecretStr | None = Field(
        None,
        description="Token signing key (>= 32 chars). Generated into the data dir when unset; "
        "every node of a cluster must share one.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token Prometheus sends to /metrics (>= 16 chars); unset: /metrics "
        "answers only direct requests from this host (loopback).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="auto: JSON lines unless stderr is a terminal."
    )
    auto_migrate: bool = Field(True, description="Apply pending migrations when serve starts.")
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(12, ge=1, le=7 * 24)
    login_max_failures: int = Field(5, ge=1, le=100)
    login_lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    api_token_ttl_minutes: int = Field(60, ge=1, le=60 * 24 * 365)
    invite_ttl_minutes: int = Field(60, ge=5, le=7 * 24 * 60)
    max_upload_mb: int = Field(512, ge=1, le=64 * 1024)
    case_file_max_mb: int = Field(
        2048, ge=1, le=1024 * 1024, description="All attachments of one case file together."
    )
    dicom_scp_port: int | None = Field(
        None, ge=0, le=65535, description="Port of the DIMSE C-STORE receiver; unset keeps it off."
    )
    dicom_scp_host: str = Field("127.0.0.1", min_length=1, description="Address it binds.")
    dicom_scp_ae_title: str = Field(
        "TELEHEALTH", min_length=1, max_length=16, pattern=r"^[ -~]*[!-~][ -~]*$"
    )
    simulcast: bool = Field(
        True,
        description="Browsers send their camera as three encodings (about 180p, 360p, 720p),"
        " so that each participant's link is sent the one it carries; off: one encoding,"
        " which the sender's own link sets for everyone.",
    )
    media_announced_address: str | None = Field(
        None, description="Public IPv4 address of a media server behind a 1:1 NAT."
    )
    ice_servers: list[str] = Field(
        default_factory=list, description="STUN/TURN URLs handed to browsers, without credentials."
    )
    turn_urls: list[str] = Field(
        default_factory=list, description="TURN URLs whose credentials come from turn_secret."
    )
    turn_secret: SecretStr | None = Field(
        None, description="Shared with coturn (use-auth-secret): time-limited TURN credentials."
    )
    turn_ttl_seconds: int = Field(24 * 3600, ge=60, le=7 * 24 * 3600)
    recording_retention_days: int | None = Field(
        None, ge=1, le=36500, description="Recordings older than this are deleted by purge."
    )
    room_grace_seconds: float = Field(
        30.0, ge=0.5, le=600, description="A dropped socket may come back this long unnoticed."
    )
    room_idle_end_seconds: float = Field(
        30 * 60.0,
        ge=1,
        le=7 * 24 * 3600,
        description="A consultation whose room nobody has been in for this long ends by itself.",
    )
    # How long each ring of hospitals has to accept a request before it escalates.
    dispatch_emergency_seconds: int = Field(120, ge=1, le=24 * 3600)
    dispatch_urgent_seconds: int = Field(15 * 60, ge=1, le=7 * 24 * 3600)
    dispatch_routine_seconds: int = Field(24 * 3600, ge=1, le=30 * 24 * 3600)

    @field_validator("data_dir", "shared_dir", "tls_cert", "tls_key")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        allowed = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            # Accept the usual libpq spelling and pick the async driver for it.
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith(allowed):
            raise ValueError(f"must start with one of {', '.join(allowed)}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("signing_key")
    @classmethod
    def _check_signing_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _check_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("media_announced_address")
    @classmethod
    def _check_announced(cls, value: str | None) -> str | None:
        if value is not None:
            import ipaddress

            ipaddress.IPv4Address(value)  # ValueError names the problem
        return value

    @field_validator("ice_servers", "turn_urls")
    @classmethod
    def _check_ice_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
                raise ValueError(f"{url!r} is not a stun:, stuns:, turn: or turns: URL")
        return value

    @model_validator(mode="after")
    def _check_turn(self) -> Settings:
        if bool(self.turn_urls) != (self.turn_secret is not None):
            raise ValueError("turn_urls and turn_secret must be given together")
        return self

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not path.is_file():
                raise ValueError(f"{path} is not a readable file")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = InitSettingsSource(settings_cls, init_kwargs=_toml_values.get() or {})
        return (init_settings, env_settings, toml)

    # Derived values -----------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'telehealth.db').resolve()}"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url
        scheme = "https" if self.tls_cert else "http"
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    @property
    def blob_dir(self) -> Path:
        return (self.shared_dir or self.data_dir) / "blobs"

    @property
    def recordings_dir(self) -> Path:
        return (self.shared_dir or self.data_dir) / "recordings"


def _describe(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "settings"
    if name == "__root__" or not loc:
        return "settings"
    return f"{ENV_PREFIX}{name.upper()} ({name})"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` are command-line values (None means unset)."""
    values: dict[str, object] = {}
    if config_file is not None:
        try:
            with open(config_file, "rb") as fh:
                values = tomllib.load(fh)
        except OSError as exc:
            raise SettingsError(f"cannot read config file {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {config_file} is not valid TOML: {exc}") from None
    token = _toml_values.set(values)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _describe(err["loc"])
        if err["type"] == "extra_forbidden":
            origin = f" in {config_file}" if config_file else ""
            raise SettingsError(f"unknown setting {err['loc'][0]!r}{origin}") from None
        raise SettingsError(f"invalid setting {where}: {err['msg']}") from None
    finally:
        _toml_values.reset(token)
