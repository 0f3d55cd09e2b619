"""Settings: sources, precedence and validation with messages that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from signalling.settings import SettingsError, load_settings


def test_defaults_run_on_one_laptop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.redis_url is None
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith(str(tmp_path / "data" / "telehealth.db"))
    assert settings.effective_public_url == "http://127.0.0.1:8080"


def test_precedence_cli_over_env_over_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "telehealth.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("TELEHEALTH_PORT", "9100")
    settings = load_settings(config)
    assert settings.port == 9100  # env beats the file
    assert settings.host == "0.0.0.0"  # from the file
    assert settings.log_level == "DEBUG"
    assert load_settings(config, port=9200).port == 9200  # the command line beats both


def test_postgres_url_gets_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEHEALTH_DATABASE_URL", "postgresql://u@db.example/telehealth")
    assert load_settings(None).effective_database_url == (
        "postgresql+asyncpg://u@db.example/telehealth"
    )


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("TELEHEALTH_PORT", "70000", "TELEHEALTH_PORT"),
        ("TELEHEALTH_PORT", "eighty", "TELEHEALTH_PORT"),
        ("TELEHEALTH_DATABASE_URL", "mysql://x/y", "TELEHEALTH_DATABASE_URL"),
        ("TELEHEALTH_REDIS_URL", "http://redis", "TELEHEALTH_REDIS_URL"),
        ("TELEHEALTH_SIGNING_KEY", "short", "TELEHEALTH_SIGNING_KEY"),
        ("TELEHEALTH_LOG_LEVEL", "LOUD", "TELEHEALTH_LOG_LEVEL"),
        ("TELEHEALTH_AUTO_MIGRATE", "perhaps", "TELEHEALTH_AUTO_MIGRATE"),
    ],
)
def test_bad_environment_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError, match=named):
        load_settings(None)


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(SettingsError, match="tls_cert and tls_key"):
        load_settings(None, tls_cert=cert)


def test_malformed_toml_and_unknown_keys(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(broken)
    typo = tmp_path / "typo.toml"
    typo.write_text("prot = 8080\n")
    with pytest.raises(SettingsError, match="unknown setting 'prot'"):
        load_settings(typo)
    with pytest.raises(SettingsError, match="cannot read config file"):
        load_settings(tmp_path / "missing.toml")


def test_metrics_token_is_secret_and_long_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(None).metrics_token is None
    monkeypatch.setenv("TELEHEALTH_METRICS_TOKEN", "short")
    with pytest.raises(SettingsError, match=r"TELEHEALTH_METRICS_TOKEN.*at least 16"):
        load_settings(None)
    monkeypatch.setenv("TELEHEALTH_METRICS_TOKEN", "m" * 20)
    settings = load_settings(None)
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == "m" * 20
    assert "m" * 20 not in repr(settings)
