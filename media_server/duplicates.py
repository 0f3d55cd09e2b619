"""Which packets of a stream already arrived, so that a copy is not forwarded.

A browser pads its sending up to its bandwidth estimate with copies of
packets it sent lately, on the RTX stream ("payload padding", libwebrtc's
choice when RTX is negotiated). Unwrapped, such a copy looks like a
retransmission; forwarded, it reached a 300 kbit/s district link as a
180p encoding measured at 350-420 kbit/s instead of its 120 (bench/field.py,
FIELD_DEBUG), and a fifth of what the link was sent was dropped in its
queue. A retransmission the SFU asked for (it lost the original) is new
here, and goes on.
"""

WINDOW = 1024  # sequence numbers remembered per stream: seconds of 720p video


class RecentSequences:
    """The last WINDOW sequence numbers of one stream, by slot."""

    __slots__ = ("_slots",)

    def __init__(self) -> None:
        self._slots = [-1] * WINDOW

    def first_time(self, sequence_number: int) -> bool:
        """Note the number; False if it arrived already (within the window)."""
        slot = sequence_number % WINDOW
        if self._slots[slot] == sequence_number:
            return False
        self._slots[slot] = sequence_number
        return True
