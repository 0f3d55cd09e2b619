"""A packet that arrived already is known as such; a first arrival never is."""

from media_server.duplicates import WINDOW, RecentSequences


def test_copies_are_known_and_a_late_first_arrival_is_not() -> None:
    seen = RecentSequences()
    assert [seen.first_time(n) for n in (10, 11, 13)] == [True, True, True]
    assert not seen.first_time(11)  # a copy (a browser's padding)
    assert seen.first_time(12)  # the one that was lost, retransmitted: new here
    assert not seen.first_time(12)


def test_numbers_wrap_and_the_window_moves_on() -> None:
    seen = RecentSequences()
    for n in range(65536 - 5, 65536):
        assert seen.first_time(n)
    for n in range(5):
        assert seen.first_time(n)  # after the wrap
    assert not seen.first_time(65535)


def test_a_number_older_than_the_window_is_forgotten() -> None:
    seen = RecentSequences()
    assert seen.first_time(5)
    for n in range(6, 6 + WINDOW):  # 5 + WINDOW takes 5's slot
        assert seen.first_time(n)
    assert seen.first_time(5)
