"""The electronic Frailty Index (CLINICAL_RULES §8, Clegg 2016) restated in plain Python for answer keys.

Written without the engine (engine/features/efi.py) so a bug there cannot hide behind the same
bug here. A deficit is present when any code in its list is on the record on or before as_of
(active or resolved rows: "first occurrence ever"; refuted / entered-in-error never), except
falls (an active fall row dated in the last 12 months) and polypharmacy (≥ 5 distinct medicines issued in the
last 12 months: an issue in the window or a repeat authorisation covering a day of it, §0; an issue coded
twice counts once). eFI = deficits ÷ 36.

Also builders for scenarios that need a given number of deficits.
"""
from __future__ import annotations

import datetime as dt

from synthetic_data.cohorts.common import Rows, add_months, medicines_issued

N = 36
MONTHS = 12
POLYPHARMACY_MIN = 5

# deficit -> codelist; falls is the windowed one
CODED = {
    "activity limitation": "efi_activity_limitation", "anaemia": "efi_anaemia", "arthritis": "efi_arthritis",
    "atrial fibrillation": "af", "cerebrovascular disease": "stroke_tia", "chronic kidney disease": "efi_ckd",
    "diabetes": "diabetes", "dizziness": "efi_dizziness", "dyspnoea": "efi_dyspnoea",
    "foot problems": "efi_foot_problems", "fragility fracture": "efi_fragility_fracture",
    "hearing impairment": "efi_hearing_impairment", "heart failure": "heart_failure",
    "heart valve disease": "efi_valve_disease", "housebound": "housebound", "hypertension": "hypertension",
    "hypotension/syncope": "efi_hypotension_syncope", "ischaemic heart disease": "chd",
    "memory/cognitive problems": "efi_memory_cognitive", "mobility problems": "efi_mobility_problems",
    "osteoporosis": "efi_osteoporosis", "parkinsonism/tremor": "efi_parkinsonism_tremor",
    "peptic ulcer": "efi_peptic_ulcer", "peripheral vascular disease": "efi_pvd",
    "requirement for care": "efi_care_requirement", "respiratory disease": "efi_respiratory_disease",
    "skin ulcer": "efi_skin_ulcer", "sleep disturbance": "efi_sleep_disturbance",
    "social vulnerability": "efi_social_vulnerability", "thyroid disease": "efi_thyroid_disease",
    "urinary incontinence": "efi_urinary_incontinence", "urinary system disease": "efi_urinary_system_disease",
    "visual impairment": "efi_visual_impairment", "weight loss/anorexia": "efi_weight_loss",
}
FALLS = "falls"
COUNTED = ("active", "resolved")


def deficits(rows: Rows, as_of: dt.date, v) -> set[str]:
    """The names of the deficits present on ``as_of``."""
    since = add_months(as_of, -MONTHS)
    events = [(e["system"], e["code"], e["date"], e["status"]) for e in rows.events
              if e["status"] in COUNTED and e["date"] <= as_of]
    found = {name for name, codelist in CODED.items()
             if any((s, c) in v.pairs(codelist) for s, c, _, _ in events)}
    if any((s, c) in v.pairs(FALLS) and day >= since and status == "active" for s, c, day, status in events):
        found.add("falls")
    if medicines_issued(rows, as_of, since) >= POLYPHARMACY_MIN:
        found.add("polypharmacy")
    return found


def efi(rows: Rows, as_of: dt.date, v) -> float:
    return len(deficits(rows, as_of, v)) / N


# --- scenario helpers -------------------------------------------------------------------------------
# Deficits a scenario may plant without touching any cohort rule (no frailty, housebound, isolation,
# fall, care-home, heart-failure, asthma, AF or hypertension-register codes).
PLANTABLE = ("activity limitation", "anaemia", "arthritis", "chronic kidney disease", "dizziness", "dyspnoea",
             "foot problems", "fragility fracture", "hearing impairment", "heart valve disease",
             "hypotension/syncope", "memory/cognitive problems", "mobility problems", "osteoporosis",
             "parkinsonism/tremor", "peptic ulcer", "peripheral vascular disease", "skin ulcer",
             "sleep disturbance", "thyroid disease", "urinary incontinence", "urinary system disease",
             "visual impairment", "weight loss/anorexia")


def plant_deficits(c, k: int) -> None:
    """Plant exactly k deficits from PLANTABLE, one code each, dated well in the past."""
    for name in c.rng.sample(PLANTABLE, k):
        rows = c.v.rows(CODED[name])
        row = c.rng.choice(rows)
        c.obs(c.ago(c.rng.randrange(200, 3000)), (row["system"], row["code"], row["term"]))
