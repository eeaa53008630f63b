"""Anticipatory care (CLINICAL_RULES §8): planted cases and the answer key for membership.

The ranking is the risk model's (engine/risk), so the truth is membership only: aged 65+, not a
care-home resident, not palliative, and moderately or severely frail (eFI > 0.24, or a moderate /
severe frailty code) or ≥ 2 long-term conditions with ≥ 10 current medicines.
"""
from __future__ import annotations

import datetime as dt

from synthetic_data.chart import Chart
from synthetic_data.cohorts.care_home import resident
from synthetic_data.cohorts.common import current_medicines, eligible, has_code, on_register
from synthetic_data.cohorts.efi import efi, plant_deficits
from synthetic_data.scenarios import Scenario

COHORT = "anticipatory_care"
BAND = "proactive care review"
MIN_AGE, EFI_ABOVE, MIN_LTC, MIN_MEDICINES = 65, 0.24, 2, 10
# long-term condition → its resolution list ("" = only a resolved Condition ends it)
LTC = {"hypertension": "hypertension_resolved", "diabetes": "diabetes_resolved", "chd": "", "stroke_tia": "",
       "pad": "", "heart_failure": "", "af": "af_resolved", "asthma": "asthma_resolved"}


def long_term_conditions(rows, as_of, v) -> int:
    events = rows.valid_events(as_of)
    return sum(on_register(events, v.pairs(name), v.pairs(res) if res else frozenset()) is not None
               for name, res in LTC.items())


def truth(p, rows, as_of, v):
    if not eligible(p, as_of, MIN_AGE) or resident(p, rows, as_of, v):
        return None
    events = rows.valid_events(as_of)
    if has_code(events, v.pairs("palliative")):
        return None
    frail = (efi(rows, as_of, v) > EFI_ABOVE or has_code(events, v.pairs("frailty_moderate"))
             or has_code(events, v.pairs("frailty_severe")))
    multimorbid = (long_term_conditions(rows, as_of, v) >= MIN_LTC
                   and current_medicines(rows, as_of) >= MIN_MEDICINES)
    return BAND if frail or multimorbid else None


# --- scenarios -------------------------------------------------------------------------------------
def _deficits(k: int):
    def build(c: Chart):
        plant_deficits(c, k)
    return build


def _frailty_code(listname: str, code: str):
    def build(c: Chart):
        c.obs(c.ago(c.rng.randrange(30, 700)), c.v.pick(listname, code))
    return build


def _multimorbid(n_medicines: int, conditions=("diabetes", "chd")):
    def build(c: Chart):
        for name in conditions:
            c.condition(c.v.pick(name), c.ago(c.rng.randrange(800, 3000)))
        day = c.ago(c.rng.randrange(10, 60))
        for k in range(n_medicines):   # distinct medicines, one issue each, inside 90 days
            c.issue(day - dt.timedelta(days=k), MEDICINES[k])
    return build


def _multimorbid_on_repeat(n_issued: int, n_authorised: int, extra_ended: bool = False):
    """2 conditions; ``n_issued`` medicines issued in the last 90 days and ``n_authorised`` on repeat in
    force; ``extra_ended``: one more whose repeat ended 3-4 months ago (not current, §0)."""
    def build(c: Chart):
        for name in ("diabetes", "chd"):
            c.condition(c.v.pick(name), c.ago(c.rng.randrange(800, 3000)))
        meds = c.rng.sample(MEDICINES, n_issued + n_authorised + extra_ended)
        for coding in meds[:n_issued]:
            c.issue(c.ago(c.rng.randrange(10, 60)), coding)
        for coding in meds[n_issued:n_issued + n_authorised]:
            c.authorisation(c.ago(c.rng.randrange(200, 1500)), coding)
        if extra_ended:
            end = c.ago(c.rng.randrange(100, 121))
            c.authorisation(end - dt.timedelta(days=c.rng.randrange(100, 400)), meds[-1], end=end, status="completed")
    return build


def _efi_and_repeats(k: int, ended: bool):
    """k coded deficits, and 5 medicines (in no hazard list) on repeat: in force (polypharmacy, a
    deficit) or ended more than 12 months ago (no deficit)."""
    def build(c: Chart):
        plant_deficits(c, k)
        for coding in c.rng.sample(_plain_medicines(c), 5):
            if ended:
                end = c.ago(c.rng.randrange(400, 700))
                c.authorisation(end - dt.timedelta(days=c.rng.randrange(100, 400)), coding, end=end,
                                status=c.rng.choice(("completed", "stopped")))
            else:
                c.authorisation(c.ago(c.rng.randrange(200, 1500)), coding)
    return build


def _plain_medicines(c: Chart) -> list:
    from synthetic_data.vocab import AMLODIPINE_SOLN, AMLODIPINE_TABS, PARACETAMOL
    return [AMLODIPINE_TABS, AMLODIPINE_SOLN, PARACETAMOL] + \
        [(r["system"], r["code"], r["term"]) for r in c.v.rows("med_ppi_h2ra")]


def _palliative_frail(c: Chart):
    plant_deficits(c, 10)
    c.procedure(c.ago(100), c.v.pick("palliative", "103735009"))


def _care_home_frail(c: Chart):
    plant_deficits(c, 10)
    c.p["care_home"] = True


# Ten distinct dm+d medicines (SNOMED UK drug extension VMPs from the NHS EPS examples and the
# generator's vocabulary, synthetic_data/codes), so "≥ 10 current medicines" is met by distinct codes.
def _medicines():
    from synthetic_data.vocab import AMLODIPINE_TABS, PARACETAMOL, vocab
    v = vocab()
    picked = [AMLODIPINE_TABS, PARACETAMOL]
    for name in ("med_ppi_h2ra", "med_digoxin", "med_loop_diuretic", "med_beta_blocker_nonselective",
                 "med_anticoagulant_oral", "med_benzodiazepine", "med_gabapentinoid", "med_opioid"):
        row = next(r for r in v.rows(name) if r["system"] == "http://snomed.info/sct")
        picked.append((row["system"], row["code"], row["term"]))
    return picked


MEDICINES = _medicines()

SCENARIOS = [
    Scenario("anticipatory_care: eFI 10/36 (0.278 > 0.24)", BAND, _deficits(10), ages=(66, 90), cohort=COHORT),
    Scenario("anticipatory_care: moderate frailty code", BAND, _frailty_code("frailty_moderate", "925831000000107"),
             ages=(66, 90), cohort=COHORT),
    Scenario("anticipatory_care: 2 conditions and 10 current medicines", BAND, _multimorbid(10), ages=(66, 85),
             cohort=COHORT),
    Scenario("anticipatory_care: 2 conditions and 10 current medicines, 5 on repeat", BAND,
             _multimorbid_on_repeat(5, 5), ages=(66, 85), cohort=COHORT),
    Scenario("anticipatory_care: near miss 2 conditions, 9 current medicines and a repeat ended 3-4 months ago", None,
             _multimorbid_on_repeat(5, 4, extra_ended=True), ages=(66, 85), cohort=COHORT),
    Scenario("anticipatory_care: eFI 8 coded + polypharmacy of 5 repeats in force (9/36)", BAND,
             _efi_and_repeats(8, ended=False), ages=(66, 90), cohort=COHORT),
    Scenario("anticipatory_care: near miss eFI 8 coded, 5 repeats that ended over a year ago (8/36)", None,
             _efi_and_repeats(8, ended=True), ages=(66, 90), cohort=COHORT),
    Scenario("anticipatory_care: near miss eFI 8/36 (0.222)", None, _deficits(8), ages=(66, 90), cohort=COHORT),
    Scenario("anticipatory_care: near miss 2 conditions and 9 medicines", None, _multimorbid(9), ages=(66, 85),
             cohort=COHORT),
    Scenario("anticipatory_care: near miss aged 64 and frail", None, _deficits(10), ages=(64, 64), cohort=COHORT),
    Scenario("anticipatory_care: near miss palliative", None, _palliative_frail, ages=(70, 90), cohort=COHORT),
    Scenario("anticipatory_care: near miss care-home resident", None, _care_home_frail, ages=(75, 95), cohort=COHORT),
]
TRUTHS = {COHORT: truth}
