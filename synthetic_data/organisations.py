"""PCNs and practices, and which contiguous run of patient numbers each practice holds.

Patients are numbered practice by practice, so a chunk of patient numbers maps to practices
without holding the population, and the plan depends only on (seed, n_patients, n_pcns).
"""
from __future__ import annotations

import bisect
import random
import uuid
from dataclasses import dataclass

from synthetic_data.geography import lsoa_pool

UNASSIGNED = "UNASSIGNED"
_TOWNS = ["Abbey", "Brook", "Canal", "Dale", "Elm", "Forest", "Grange", "Harbour", "Iron Bridge",
          "Jubilee", "Kings", "Lakeside", "Meadow", "Newtown", "Orchard", "Park", "Quarry",
          "River", "Station", "Tower", "Union", "Valley", "Windmill", "York Road"]
_KINDS = ["Medical Centre", "Surgery", "Health Centre", "Medical Practice", "Family Practice"]


@dataclass(frozen=True)
class Pcn:
    id: str            # FHIR Organization id
    ods: str           # "U" + 5 digits
    name: str
    centre_decile: float


@dataclass(frozen=True)
class Practice:
    id: str
    ods: str           # letter + 5 digits
    name: str
    pcn: Pcn | None
    first: int         # first patient number
    size: int
    lsoas: tuple       # ((lsoa_code, imd_decile), ...)
    minority_factor: float  # scales the non-White share: urban/deprived practices are more diverse


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _split(rng: random.Random, total: int, weights: list[float]) -> list[int]:
    """Integers summing to total, proportional to weights (largest remainder)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


class Plan:
    def __init__(self, seed: int, n_patients: int, n_pcns: int):
        rng = random.Random(f"organisations:{seed}")
        used_ods: set[str] = set()

        def ods(prefix: str) -> str:
            while True:
                code = f"{prefix}{rng.randrange(10000, 100000)}"
                if code not in used_ods:
                    used_ods.add(code)
                    return code

        n_unassigned = max(1, round(n_patients * 0.005)) if n_patients >= 2 else 0
        pcn_sizes = _split(rng, n_patients - n_unassigned, [rng.uniform(0.6, 1.6) for _ in range(n_pcns)])
        self.pcns: list[Pcn] = []
        self.practices: list[Practice] = []
        first = 0
        for k, size in enumerate(pcn_sizes):
            town = f"{_TOWNS[k % len(_TOWNS)]}{'' if k < len(_TOWNS) else ' ' + str(k // len(_TOWNS) + 1)}"
            pcn = Pcn(_uuid(rng), ods("U"), f"{town} Primary Care Network", rng.uniform(1.5, 9.5))
            self.pcns.append(pcn)
            n_prac = rng.randint(2, 6)
            for j, psize in enumerate(_split(rng, size, [rng.uniform(0.4, 1.6) for _ in range(n_prac)])):
                self._add(rng, ods(rng.choice("ABCDEFGHJKLMNPY")), f"{town} {_KINDS[j % len(_KINDS)]}",
                          pcn, first, psize, pcn.centre_decile)
                first += psize
        self._add(rng, ods("Y"), "Riverside Independent Surgery", None, first, n_unassigned,
                  rng.uniform(2, 8))
        self._firsts = [p.first for p in self.practices]

    def _add(self, rng, ods, name, pcn, first, size, centre):
        pool = tuple(lsoa_pool(rng, centre + rng.uniform(-1, 1)))
        mean_decile = sum(d for _, d in pool) / len(pool)
        factor = max(0.3, min(3.0, rng.lognormvariate(0, 0.5) * (1.6 - mean_decile / 10)))
        self.practices.append(Practice(_uuid(rng), ods, name, pcn, first, size, pool, factor))

    def practice_of(self, index: int) -> Practice:
        """The practice holding patient number ``index``.

        The last practice starting at or before ``index`` holds it: an empty practice starts where
        the next one does, so bisect_right steps past it.
        """
        return self.practices[bisect.bisect_right(self._firsts, index) - 1]

    def groups(self) -> list[tuple[str, int, int]]:
        """(pcn ods or UNASSIGNED, first patient number, size) for each PCN in patient order."""
        out: dict[str, list[int]] = {}
        for p in self.practices:
            key = p.pcn.ods if p.pcn else UNASSIGNED
            lo, n = out.get(key, [p.first, 0])
            out[key] = [lo, n + p.size]
        return [(k, v[0], v[1]) for k, v in out.items()]
