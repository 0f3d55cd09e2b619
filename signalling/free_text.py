"""Free text people type (names, titles, clinical questions): no control characters.

Control characters (Unicode Cc: U+0000-001F, U+007F-009F) are refused, not
stripped: PostgreSQL cannot store a NUL (it was a 500), and the others hide
or rewrite text in logs, exports and terminals. Multi-line fields keep tab,
line feed and carriage return. The check runs on the value as sent, before
a body's trimming, and the same rule is the field's JSON Schema pattern, so
what the OpenAPI document allows is what the server accepts.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

from signalling.errors import PlatformError

_CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
_CONTROL_BUT_LINES = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"
# A character that is text once stripped. U+FEFF is white space to JSON
# Schema (ECMA) but not to Python or Rust; excluding it keeps all three alike.
_VISIBLE = f"[^\\s{_CONTROL}\\ufeff]"

# Patterns: nothing but allowed characters, and something besides blanks.
LINE = f"^[^{_CONTROL}]*{_VISIBLE}[^{_CONTROL}]*$"
TEXT = f"^[^{_CONTROL_BUT_LINES}]*{_VISIBLE}[^{_CONTROL_BUT_LINES}]*$"

_LINE_BAD = re.compile(f"[{_CONTROL}]")
_TEXT_BAD = re.compile(f"[{_CONTROL_BUT_LINES}]")


def control_in(value: str, *, multiline: bool = False) -> str | None:
    """The first control character in ``value`` as U+XXXX, or None."""
    found = (_TEXT_BAD if multiline else _LINE_BAD).search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def check_text(value: str, what: str, *, multiline: bool = False) -> str:
    """``value`` unchanged, or a PlatformError naming the field and the character."""
    bad = control_in(value, multiline=multiline)
    if bad is not None:
        raise PlatformError(f"{what}: control characters are not allowed (found {bad})")
    return value


def _refuser(multiline: bool) -> BeforeValidator:
    def check(value: Any) -> Any:
        if isinstance(value, str) and (bad := control_in(value, multiline=multiline)):
            raise ValueError(f"control characters are not allowed (found {bad})")
        return value

    return BeforeValidator(check)


# Request body fields: `title: OneLine = Field(..., pattern=LINE)`.
OneLine = Annotated[str, _refuser(False)]
MultiLine = Annotated[str, _refuser(True)]
