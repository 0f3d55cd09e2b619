"""Physical units of waveform channels, from ChannelSensitivityUnitsSequence.

A channel's samples are in the unit its ChannelSensitivityUnitsSequence
names (PS3.3 C.10.9.1.4.3), a UCUM code: ECG leads in "uV", "mV" or "V";
the waveform unit context group (CID 3082) also holds pressures, flows and
temperatures, which are no ECG lead. Only voltages are converted; anything
else, including a code in another coding scheme or one not known here, is
reported as such rather than assumed to be microvolts: drawing millivolts
as microvolts shows a flat line, which reads as asystole.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from .attributes import first_item, get_str

# UCUM is case-sensitive ("MV" is a megavolt, "mv" nothing), so codes are
# matched exactly; micro is "u" in UCUM, its print symbol µ is tolerated
_MICROVOLTS_PER = {
    "nV": 1e-3,
    "uV": 1.0,
    "\u00b5V": 1.0,  # MICRO SIGN
    "\u03bcV": 1.0,  # GREEK SMALL LETTER MU
    "mV": 1e3,
    "V": 1e6,
}
_UCUM = "UCUM"


@dataclass(frozen=True, slots=True)
class ChannelUnit:
    """What a channel's units sequence says, and its factor to microvolts."""

    code: str | None  # CodeValue as declared, e.g. "mV"
    meaning: str | None  # CodeMeaning, e.g. "millivolt"
    microvolts_per_unit: float | None  # None: not a voltage this viewer knows

    @property
    def problem(self) -> str | None:
        if self.microvolts_per_unit is not None:
            return None
        if self.code is None:
            return "the channel declares no unit (ChannelSensitivityUnitsSequence)"
        shown = self.code if self.meaning is None else f"{self.code} ({self.meaning})"
        return f"the channel is recorded in {shown}, not a voltage unit this viewer knows"


def channel_unit(channel: Dataset) -> ChannelUnit:
    """The unit of one ChannelDefinitionSequence item."""
    item = first_item(channel, "ChannelSensitivityUnitsSequence")
    if item is None:
        return ChannelUnit(None, None, None)
    code = get_str(item, "CodeValue")
    meaning = get_str(item, "CodeMeaning")
    scheme = get_str(item, "CodingSchemeDesignator")
    factor = _MICROVOLTS_PER.get(code or "") if scheme == _UCUM else None
    return ChannelUnit(code, meaning, factor)


__all__ = ["ChannelUnit", "channel_unit"]
