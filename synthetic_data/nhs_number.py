"""NHS numbers in the 999 test range with valid Modulus-11 check digits, unique per patient.

Patient number i maps to the i-th valid number of a block in a scrambled order, so numbers are
unique without a lookup table of issued numbers and do not run in practice order.
"""
from __future__ import annotations

import math
from functools import lru_cache

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def check_digit(first_nine: str) -> int | None:
    """The Modulus-11 check digit, or None when the nine digits cannot form a valid number."""
    total = sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS))
    check = 11 - total % 11
    return 0 if check == 11 else (None if check == 10 else check)


def is_valid(number: str) -> bool:
    return len(number) == 10 and number.isdigit() and check_digit(number[:9]) == int(number[9])


@lru_cache(maxsize=2)
def _valid_suffixes(prefix: int) -> tuple[int, ...]:
    """Six-digit suffixes s for which '<prefix><s>' has a check digit; prefix is 3 digits."""
    head = sum(int(d) * w for d, w in zip(f"{prefix:03d}", _WEIGHTS[:3]))
    hi = [sum(int(d) * w for d, w in zip(f"{x:03d}", _WEIGHTS[3:6])) for x in range(1000)]
    lo = [sum(int(d) * w for d, w in zip(f"{x:03d}", _WEIGHTS[6:9])) for x in range(1000)]
    return tuple(h * 1000 + l for h in range(1000) for l in range(1000)
                 if (head + hi[h] + lo[l]) % 11 != 1)


class NhsNumbers:
    def __init__(self, seed: int):
        self._seed = seed

    def number(self, index: int) -> str:
        """A distinct valid number for each patient number; 999 prefix for the first ~909,000."""
        block, j = 999, index
        while True:
            valid = _valid_suffixes(block)
            if j < len(valid):
                break
            j -= len(valid)
            block -= 1
        n = len(valid)
        step = 1 + (self._seed * 7919 + 104729) % (n - 1)
        while math.gcd(step, n) != 1:
            step += 1
        s = valid[(j * step + self._seed) % n]
        nine = f"{block:03d}{s:06d}"
        return nine + str(check_digit(nine))
