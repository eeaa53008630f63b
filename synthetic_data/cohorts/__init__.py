"""Planted cases and answer keys per cohort.

Each module holds ``SCENARIOS`` (``synthetic_data.scenarios.Scenario`` with its ``cohort``) and
``TRUTHS``: cohort name → ``truth(patient, rows, as_of, vocab)`` giving the band the patient must
be listed in, or None. Every truth function runs on every patient, planted or not, so a
background patient who happens to qualify is in the truth too. A new cohort adds a module here.
"""
from __future__ import annotations

import importlib

MODULES = ("hypertension", "cancer_safety_netting", "care_home", "smr", "fh", "heart_failure", "af", "anticipatory_care")

SCENARIOS = []
TRUTHS = {}
for _name in MODULES:
    _m = importlib.import_module(f"synthetic_data.cohorts.{_name}")
    SCENARIOS.extend(_m.SCENARIOS)
    TRUTHS.update(_m.TRUTHS)

from synthetic_data.cohorts.hypertension import UNASSIGNED_SCENARIO  # noqa: E402

BY_NAME = {s.name: s for s in SCENARIOS + [UNASSIGNED_SCENARIO]}
