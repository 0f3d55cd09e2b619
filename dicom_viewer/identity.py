"""Compare person names across DICOM and free text.

A DICOM PN holds up to three component groups separated by '=': the
alphabetic form, then ideographic and phonetic forms (PS3.5 6.2.1); within
a group '^' separates family, given, middle names, prefix and suffix. A
case file holds a free-text name, in Vietnam usually with diacritics
("Nguyễn Văn A"). Modalities often strip the diacritics ("NGUYEN^VAN^A"),
so both sides become sets of uppercase ASCII words and are compared as sets
(the order of family and given names differs between the two habits).
"""

from __future__ import annotations

import re
import unicodedata

# letters that are not a base letter plus a combining mark, so NFKD leaves them
_NO_DECOMPOSITION = str.maketrans(
    {"đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "AE"}
)
_SEPARATORS = re.compile(r"[^A-Z0-9]+")


def name_tokens(person_name: str) -> frozenset[str]:
    """The words of a name, in uppercase ASCII without diacritics.

    ``name_tokens("NGUYEN^VAN^A") == name_tokens("Nguyễn Văn A")``. Only the
    alphabetic group of a PN is used: ideographic and phonetic forms after
    '=' spell the same name in another script. Characters with no ASCII
    form (e.g. CJK) are dropped, so a name written only in them has no
    tokens, and an empty set matches nothing.
    """
    alphabetic = person_name.split("=", 1)[0]
    decomposed = unicodedata.normalize("NFKD", alphabetic.translate(_NO_DECOMPOSITION))
    ascii_text = decomposed.encode("ascii", "ignore").decode("ascii").upper()
    return frozenset(token for token in _SEPARATORS.split(ascii_text) if token)


__all__ = ["name_tokens"]
