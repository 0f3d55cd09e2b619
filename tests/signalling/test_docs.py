"""The README's configuration table stays true of the Settings class."""

from __future__ import annotations

import re
from pathlib import Path

from signalling.settings import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_with_its_variable() -> None:
    text = README.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert documented == set(Settings.model_fields)
    for name in Settings.model_fields:
        assert f"`{ENV_PREFIX}{name.upper()}`" in text, name


def test_protocol_document_is_current() -> None:
    from signalling.protocol_doc import render
    from signalling.rooms.protocol import CLIENT_EVENT_DOCS, CLIENT_EVENTS

    assert CLIENT_EVENT_DOCS.keys() == CLIENT_EVENTS.keys()
    protocol = README.with_name("docs") / "PROTOCOL.md"
    assert protocol.read_text() == render(), (
        "run: python -m signalling.protocol_doc > docs/PROTOCOL.md"
    )
