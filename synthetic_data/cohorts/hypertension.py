"""Undiagnosed hypertension (CLINICAL_RULES §3): scenarios in ``synthetic_data.scenarios``, the
answer key in ``synthetic_data.truth``."""
from __future__ import annotations

from synthetic_data.scenarios import SCENARIOS, UNASSIGNED_SCENARIO
from synthetic_data.truth import Lists, hypertension_band

COHORT = "hypertension"
_lists: dict = {}


def truth(p, rows, as_of, v):
    lists = _lists.setdefault(id(v), Lists.load(v))
    result = hypertension_band(p, rows.events, as_of, lists)
    return result[0] if result else None


TRUTHS = {COHORT: truth}
__all__ = ["SCENARIOS", "UNASSIGNED_SCENARIO", "TRUTHS"]
