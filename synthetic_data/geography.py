"""Synthetic LSOAs with IMD deciles: the same table in conf/lsoa_imd.csv and in the generator.

The table depends on nothing but a fixed seed, so the file in conf/ never changes when a user
generates a population with another seed, and ingest joins every generated LSOA to a decile.
"""
from __future__ import annotations

import csv
import random
from functools import lru_cache
from pathlib import Path

N_LSOAS = 2000
_TABLE_SEED = "lsoa-imd-2019"
_PLACES = ["Ashford", "Barnfield", "Castlegate", "Dunmore", "Eastwick", "Fairholme", "Greystone",
           "Hartley", "Ingleby", "Jarrow Vale", "Kingsmead", "Longridge", "Marsden", "Northfield",
           "Oakwood", "Pendle", "Queensbury", "Redhill", "Southmoor", "Thornbury", "Upton",
           "Westcliff", "Yardley", "Zetland Park"]


@lru_cache(maxsize=1)
def lsoas() -> tuple[tuple[str, str, int], ...]:
    """(lsoa_code, lsoa_name, imd_decile) rows; deciles evenly spread, 1 = most deprived."""
    rng = random.Random(_TABLE_SEED)
    codes = rng.sample(range(1000, 36000), N_LSOAS)
    deciles = [1 + (i * 10) // N_LSOAS for i in range(N_LSOAS)]
    rng.shuffle(deciles)
    rows, seen = [], {}
    for code, decile in zip(sorted(codes), deciles):
        place = _PLACES[code % len(_PLACES)]
        seen[place] = seen.get(place, 0) + 1
        n = seen[place]
        rows.append((f"E01{code:06d}", f"{place} {(n - 1) // 4 + 1:03d}{'ABCD'[(n - 1) % 4]}", decile))
    return tuple(rows)


def write_lsoa_csv(path: str | Path) -> Path:
    # No comment lines: readers of the published IMD file expect a plain header row.
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["lsoa_code", "lsoa_name", "imd_decile"])
        w.writerows(lsoas())
    return path


def lsoa_pool(rng: random.Random, centre_decile: float, size: int = 40) -> list[tuple[str, int]]:
    """LSOAs for one PCN, drawn around a deprivation centre so PCNs differ in their mix."""
    table = lsoas()
    weights = [1.0 / (1.0 + abs(d - centre_decile)) ** 2 for _, _, d in table]
    picked = rng.choices(range(len(table)), weights=weights, k=size)
    return [(table[i][0], table[i][2]) for i in sorted(set(picked))]
