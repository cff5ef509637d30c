from __future__ import annotations

import pytest

from llmportal.usage.schemas import apportion, div_round, to_cents


@pytest.mark.parametrize(
    ("micros", "cents"),
    [
        ([4_567_905, 9_166_667, 1_005_000], [457, 917, 100]),
        ([5_000, 5_000, 5_000], [1, 1, 0]),
        ([4_999], [0]),
        ([5_000], [1]),
        ([0, 0], [0, 0]),
        ([], []),
    ],
)
def test_cents_add_up_to_the_rounded_total(micros: list[int], cents: list[int]) -> None:
    assert to_cents(micros) == cents
    assert sum(cents) == div_round(sum(micros), 10_000)


@pytest.mark.parametrize(
    ("weights", "parts"),
    [
        ([1, 1, 1], [334, 333, 333]),
        ([1, 2], [333, 667]),
        ([0, 5], [0, 1000]),
        ([0, 0], [0, 0]),
        ([11_005_000, 3_734_572], [747, 253]),
    ],
)
def test_shares_sum_exactly_to_the_whole(weights: list[int], parts: list[int]) -> None:
    assert apportion(weights, 1000) == parts


def test_div_round_rounds_half_up() -> None:
    assert (div_round(5, 2), div_round(4, 3), div_round(5, 3)) == (3, 1, 2)
