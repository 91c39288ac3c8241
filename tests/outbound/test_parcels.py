"""Issue 8 item 1, files under the per-mail cap: `fit` (a notification) and `split`
(`#attachments`), property-tested: every file lands in exactly one place, no mail is over the
cap, the order is kept, and only a file bigger than the cap by itself is never mailed."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from maildesk.outbound.parcels import fit, split


@dataclass(frozen=True)
class F:
    name: int
    size: int


sizes = st.lists(st.integers(min_value=0, max_value=5000), max_size=30)
caps = st.integers(min_value=0, max_value=6000)


def _files(values: list[int]) -> list[F]:
    return [F(i, v) for i, v in enumerate(values)]


@given(sizes, caps)
def test_item1_fit_keeps_in_order_what_fits_and_leaves_the_rest(
    values: list[int], cap: int
) -> None:
    files = _files(values)
    kept, left = fit(files, cap)
    assert sorted(kept + left, key=lambda f: f.name) == files
    assert kept == [f for f in files if f in kept]  # order kept
    assert sum(f.size for f in kept) <= cap
    room = cap
    for f in files:  # greedy: each left-out file did not fit when its turn came
        if f in kept:
            room -= f.size
        else:
            assert f.size > room


@given(sizes, caps)
def test_item1_split_puts_every_file_once_and_no_mail_over_the_cap(
    values: list[int], cap: int
) -> None:
    files = _files(values)
    mails, too_big = split(files, cap)
    placed = [f for mail in mails for f in mail]
    assert sorted(placed + too_big, key=lambda f: f.name) == files
    assert placed == [f for f in files if f.size <= cap]  # in order, across mails
    assert too_big == [f for f in files if f.size > cap]
    assert all(mail and sum(f.size for f in mail) <= cap for mail in mails)
    for first, second in pairwise(mails):  # a new mail only when needed
        assert sum(f.size for f in first) + second[0].size > cap


def test_item1_split_examples() -> None:
    mails, too_big = split(_files([60, 50, 120, 9]), 100)
    assert [[f.name for f in m] for m in mails] == [[0], [1, 3]]
    assert [f.name for f in too_big] == [2]
    assert split([], 100) == ([], [])
