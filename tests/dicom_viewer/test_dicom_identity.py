"""Names from DICOM PN and from a Vietnamese case file compare equal."""

from __future__ import annotations

import pytest

from dicom_viewer.identity import name_tokens


@pytest.mark.parametrize(
    ("dicom", "free_text"),
    [
        ("NGUYEN^VAN^A", "Nguyễn Văn A"),
        ("TRAN^THI^HUONG", "Trần Thị Hương"),
        ("DANG^VAN^DUC", "Đặng Văn Đức"),  # đ/Đ has no combining form
        ("LE^THI^NGOC^ANH", "Lê Thị Ngọc Ánh"),
        ("PHAM^QUOC^VIET", "Phạm   Quốc Việt "),  # stray spaces
        ("HUYNH^TAN^PHAT=黃^晉發=ホアン^タンファット", "Huỳnh Tấn Phát"),
        ("BUI^XUAN^PHUONG", "Phương Xuân Bùi"),  # given name first
    ],
)
def test_dicom_and_vietnamese_spellings_give_the_same_tokens(dicom: str, free_text: str) -> None:
    assert name_tokens(dicom) == name_tokens(free_text)


def test_tokens_are_uppercase_ascii_words() -> None:
    assert name_tokens("Đỗ Thị Mỹ Dung") == frozenset({"DO", "THI", "MY", "DUNG"})
    assert name_tokens("NGUYEN^VAN^A^^") == frozenset({"NGUYEN", "VAN", "A"})
    assert all(token.isascii() for token in name_tokens("Ưng Hoàng Phúc"))
    assert name_tokens("Ưng Hoàng Phúc") == frozenset({"UNG", "HOANG", "PHUC"})


def test_different_people_differ() -> None:
    assert name_tokens("NGUYEN^VAN^A") != name_tokens("Nguyễn Văn B")
    assert name_tokens("Trần Thị Hương") != name_tokens("Trần Thị Hường Anh")


def test_names_without_alphabetic_form_have_no_tokens() -> None:
    assert name_tokens("") == frozenset()
    assert name_tokens("^^") == frozenset()
    assert name_tokens("=阮^文") == frozenset()  # ideographic group only
