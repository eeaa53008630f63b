"""Possible familial hypercholesterolaemia (CLINICAL_RULES §5): planted cases and the answer key.

The answer key reads the rows as the generator wrote them, units included: it converts mg/dL
itself (÷ 38.67) and ignores a value whose unit is neither mmol/L nor mg/dL, as ingest quarantines
it. Boundary values are planted in mmol/L (an mg/dL value is never exactly on an edge after
conversion); the US-style scenarios use LOINC codes in mg/dL as Synthea writes them.
"""
from __future__ import annotations

import datetime as dt
import re

from synthetic_data.chart import Chart
from synthetic_data.cohorts.common import Rows, age_on, eligible, has_code
from synthetic_data.people import add_years
from synthetic_data.scenarios import Scenario

COHORT = "fh"
REFER, ASSESS = "refer for genetic testing", "assess"
MMOL, MGDL = "mmol/L", "mg/dL"

# The rule, restated (CLINICAL_RULES §5 with the lead's interpretations).
MIN_AGE = 18
TC_YOUNG_ABOVE, TC_YOUNG_AGE_BELOW, TC_ANY_AGE_ABOVE, LDL_ABOVE = 7.5, 30, 9.0, 4.9
REFER_ABOVE = 5
PREMATURE_AGE = {"female": 60}          # anyone else: 55
MG_DL_PER_MMOL_L = 38.67


# --- answer key ---------------------------------------------------------------------------------
def _mmol(row) -> float | None:
    """The row's value in mmol/L, or None when its unit is not one ingest accepts."""
    unit = re.sub(r"\{[^}]*\}|\s+", "", row["unit"] or "").lower()
    if unit == "mmol/l":
        return row["value"]
    if unit == "mg/dl":
        return row["value"] / MG_DL_PER_MMOL_L
    return None


def _values(events, codes) -> list[tuple[dt.date, float]]:
    out = []
    for r in events:
        if (r["system"], r["code"]) in codes and r["status"] == "active" and r["value"] is not None:
            v = _mmol(r)
            if v is not None:
                out.append((r["date"], v))
    return out


def _first(events, codes) -> dt.date | None:
    found = [r["date"] for r in events if (r["system"], r["code"]) in codes and r["status"] == "active"]
    return min(found) if found else None


def dlcn_score(p, events, v) -> int:
    """DLCN from the record (Nordestgaard 2013; one score per group), a lower bound."""
    ldl = [x for _, x in _values(events, v.pairs("ldl_cholesterol"))]
    top = max(ldl) if ldl else None
    ldl_points = 0 if top is None else 8 if top > 8.5 else 5 if top >= 6.5 else 3 if top >= 5.0 else \
        1 if top >= 4.0 else 0
    limit = PREMATURE_AGE.get(p["sex"], 55)
    chd = _first(events, v.pairs("chd"))
    vascular = _first(events, v.pairs("stroke_tia") | v.pairs("pad"))
    history = 2 if chd and age_on(p["birth_date"], chd) < limit else \
        1 if vascular and age_on(p["birth_date"], vascular) < limit else 0
    exam = 6 if has_code(events, v.pairs("tendon_xanthoma")) else 0
    return ldl_points + history + exam


def truth(p, rows: Rows, as_of, v):
    if not eligible(p, as_of, MIN_AGE):
        return None
    events = rows.valid_events(as_of)
    if has_code(events, v.pairs("fh")):
        return None
    tc = _values(events, v.pairs("total_cholesterol"))
    ldl = _values(events, v.pairs("ldl_cholesterol"))
    raised = (any(x > TC_YOUNG_ABOVE for day, x in tc if age_on(p["birth_date"], day) < TC_YOUNG_AGE_BELOW)
              or any(x > TC_ANY_AGE_ABOVE for _, x in tc) or any(x > LDL_ABOVE for _, x in ldl))
    if not raised:
        return None
    return REFER if dlcn_score(p, events, v) > REFER_ABOVE else ASSESS


TRUTHS = {COHORT: truth}


# --- planted cases --------------------------------------------------------------------------------
def _ldl(c: Chart, day, value, unit=MMOL, loinc=False, status="final"):
    coding = c.v.pick("ldl_cholesterol", "18262-6" if loinc else "1022191000000100")
    return c.obs(day, coding, value, unit, status=status)


def _tc(c: Chart, day, value, unit=MMOL, loinc=False):
    return c.lab(day, c.v.pick("total_cholesterol", "2093-3" if loinc else "1005671000000105"), value, unit)


def _recent(c: Chart) -> dt.date:
    return c.ago(c.rng.randrange(20, 700))


def _safe_birthday(c: Chart) -> dt.date:
    """Birth dates on 29 February make 'the Nth birthday' ambiguous: move them a day."""
    if (c.p["birth_date"].month, c.p["birth_date"].day) == (2, 29):
        c.p["birth_date"] -= dt.timedelta(days=1)
    return c.p["birth_date"]


def ldl(value, unit=MMOL, loinc=False):
    def build(c: Chart):
        _ldl(c, _recent(c), value, unit, loinc)
    return build


def tc(value, unit=MMOL, loinc=False, ldl_value=None):
    def build(c: Chart):
        day = _recent(c)
        _tc(c, day, value, unit, loinc)
        if ldl_value is not None:
            _ldl(c, day, ldl_value, unit, loinc)
    return build


def tc_at_age(value, age, days=0):
    """Total cholesterol measured ``days`` after the patient's ``age``-th birthday."""
    def build(c: Chart):
        _tc(c, add_years(_safe_birthday(c), age) + dt.timedelta(days=days), value)
    return build


def with_event(value, listname, code, age, days=0, second=None):
    """LDL ``value`` recently, plus a condition first coded at ``age`` (+ days); ``second``: another."""
    def build(c: Chart):
        birth = _safe_birthday(c)
        _ldl(c, _recent(c), value)
        c.condition(c.v.pick(listname, code), add_years(birth, age) + dt.timedelta(days=days))
        if second:
            c.condition(c.v.pick(second[0], second[1]), add_years(birth, second[2]))
    return build


def _highest_not_latest(c: Chart):
    _ldl(c, c.ago(c.rng.randrange(1500, 2500)), 5.8)
    _ldl(c, c.ago(c.rng.randrange(30, 300)), 3.2)


def _unknown_unit(c: Chart):
    day = _recent(c)
    _ldl(c, day, 260, "mg")                 # would be 6.7 mmol/L, but "mg" is not a concentration
    _tc(c, day, 5.1)


def _coded(verification):
    def build(c: Chart):
        c.condition(c.v.pick("fh", "398036000"), c.ago(c.rng.randrange(800, 3000)), verification=verification)
        _ldl(c, _recent(c), 6.3)
    return build


def _entered_in_error(c: Chart):
    _ldl(c, _recent(c), 6.3, status="entered-in-error")
    _tc(c, _recent(c), 5.0)


def _after_as_of(c: Chart):
    _tc(c, c.ago(200), 5.0)
    _ldl(c, c.as_of + dt.timedelta(days=10), 6.3)


def _deceased(c: Chart):
    c.p["death_date"] = c.ago(40)
    _ldl(c, c.ago(300), 6.3)


def _aged_17(c: Chart):
    c.p["birth_date"] = add_years(c.as_of, -18) + dt.timedelta(days=1)
    c.p["registration_start"] = c.p["birth_date"] + dt.timedelta(days=10)
    _tc(c, c.ago(60), 8.2)


def S(name, band, build, **kw):
    return Scenario(f"fh: {name}", band, build, cohort=COHORT, **kw)


SCENARIOS = [
    # LDL-C > 4.9 (UK SNOMED, mmol/L), edges exact
    S("LDL-C 4.91 mmol/L", ASSESS, ldl(4.91)),
    S("LDL-C 5.0 (DLCN 3)", ASSESS, ldl(5.0)),
    S("near miss: LDL-C exactly 4.9", None, ldl(4.9)),
    # total cholesterol > 9.0 at any age
    S("total cholesterol 9.01 at any age", ASSESS, tc(9.01, ldl_value=3.8), ages=(45, 75)),
    S("near miss: total cholesterol exactly 9.0", None, tc(9.0, ldl_value=3.8), ages=(45, 75)),
    # total cholesterol > 7.5 before 30, judged at the age of the test
    S("total cholesterol 7.51 aged 25", ASSESS, tc(7.51), ages=(22, 27)),
    S("near miss: total cholesterol exactly 7.5 aged 25", None, tc(7.5), ages=(22, 27)),
    S("total cholesterol 8.0 the day before the 30th birthday", ASSESS, tc_at_age(8.0, 30, -1), ages=(33, 36)),
    S("near miss: total cholesterol 8.0 on the 30th birthday", None, tc_at_age(8.0, 30), ages=(33, 36)),
    S("near miss: total cholesterol 8.2 aged 40", None, tc(8.2, ldl_value=4.2), ages=(38, 45)),
    # DLCN bands: > 5 refers
    S("LDL-C 8.51: DLCN 8, refer", REFER, ldl(8.51)),
    S("LDL-C exactly 8.5: DLCN 5, assess", ASSESS, ldl(8.5)),
    S("LDL-C 6.5 + premature CHD (man, 50): DLCN 7, refer", REFER,
      with_event(6.5, "chd", "22298006", 50), sex="male", ages=(58, 75)),
    S("LDL-C 6.45 (gap: 3 points) + premature CHD: DLCN 5, assess", ASSESS,
      with_event(6.45, "chd", "53741008", 48), sex="male", ages=(58, 75)),
    S("LDL-C 6.6 + CHD on the 55th birthday (man): not premature, assess", ASSESS,
      with_event(6.6, "chd", "22298006", 55), sex="male", ages=(60, 75)),
    S("LDL-C 6.6 + CHD the day before the 55th birthday (man): refer", REFER,
      with_event(6.6, "chd", "22298006", 55, -1), sex="male", ages=(60, 75)),
    S("LDL-C 6.6 + PAD at 58 (woman): DLCN 6, refer", REFER,
      with_event(6.6, "pad", "840580004", 58), sex="female", ages=(62, 78)),
    S("LDL-C 6.6 + stroke on the 60th birthday (woman): assess", ASSESS,
      with_event(6.6, "stroke_tia", "230690007", 60), sex="female", ages=(63, 78)),
    S("LDL-C 5.5 + premature CHD and stroke: group scores once, DLCN 5, assess", ASSESS,
      with_event(5.5, "chd", "22298006", 49, second=("stroke_tia", "230690007", 51)), sex="male", ages=(58, 75)),
    # all time, highest value; US Synthea-style LOINC in mg/dL
    S("highest LDL-C 5.8 years ago, latest 3.2", ASSESS, _highest_not_latest),
    S("LOINC LDL-C 232 mg/dL (6.0 mmol/L)", ASSESS, ldl(232, MGDL, loinc=True)),
    S("LOINC LDL-C 340 mg/dL (8.8 mmol/L): refer", REFER, ldl(340, MGDL, loinc=True)),
    S("LOINC total cholesterol 360 mg/dL (9.3 mmol/L)", ASSESS, tc(360, MGDL, loinc=True, ldl_value=150), ages=(45, 75)),
    S("LOINC total cholesterol 300 mg/dL (7.8 mmol/L) aged 24", ASSESS, tc(300, MGDL, loinc=True), ages=(20, 26)),
    S("near miss: LOINC LDL-C 185 mg/dL (4.8 mmol/L)", None, ldl(185, MGDL, loinc=True)),
    S("near miss: LDL-C 260 in 'mg' (unknown unit, quarantined)", None, _unknown_unit),
    # FH code, record status, eligibility
    S("near miss: coded FH", None, _coded("confirmed")),
    S("FH code refuted", ASSESS, _coded("refuted")),
    S("near miss: raised LDL-C entered in error", None, _entered_in_error),
    S("near miss: raised LDL-C after the as-of date", None, _after_as_of),
    S("near miss: deceased", None, _deceased),
    S("near miss: aged 17 with total cholesterol 8.2", None, _aged_17),
]

__all__ = ["SCENARIOS", "TRUTHS", "dlcn_score"]
