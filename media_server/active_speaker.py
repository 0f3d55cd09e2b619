"""Active speaker detection from audio levels (RFC 6464 header extension).

Levels are -dBov, 0 loudest and 127 silence, averaged per producer over
one interval. The loudest peer above the speech threshold becomes the
active speaker once it has been loudest for `hold` intervals in a row,
so that a cough does not switch the view; after `silence` quiet
intervals there is no active speaker.
"""

SPEECH_LEVEL = 60  # louder than -60 dBov


class ActiveSpeakerDetector:
    def __init__(self, hold: int = 2, silence: int = 7) -> None:
        self.speaker: str | None = None
        self._hold = hold
        self._silence = silence
        self._candidate: str | None = None
        self._candidate_count = 0
        self._quiet_count = 0

    def update(self, levels: dict[str, int]) -> bool:
        """Feed one interval's mean level per peer; return whether the speaker changed."""
        loudest: str | None = None
        loudest_level = SPEECH_LEVEL + 1
        for peer_id, level in sorted(levels.items()):
            if level < loudest_level:
                loudest, loudest_level = peer_id, level

        if loudest is None:
            self._candidate, self._candidate_count = None, 0
            self._quiet_count += 1
            if self.speaker is not None and self._quiet_count >= self._silence:
                self.speaker = None
                return True
            return False

        self._quiet_count = 0
        if loudest == self.speaker:
            self._candidate, self._candidate_count = None, 0
            return False
        if loudest == self._candidate:
            self._candidate_count += 1
        else:
            self._candidate, self._candidate_count = loudest, 1
        if self._candidate_count >= self._hold:
            self.speaker = loudest
            self._candidate, self._candidate_count = None, 0
            return True
        return False
