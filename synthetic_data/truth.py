"""The answer key: CLINICAL_RULES §3 (undiagnosed hypertension) re-stated over one patient's rows.

Deliberately independent of the engine: plain Python over the canonical rows the generator's
records map to, so a bug in the Spark cohort cannot hide behind the same bug here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from synthetic_data.people import SOUTH_ASIAN, add_months, age_on
from synthetic_data.vocab import Vocab

IGNORED = ("refuted", "entered-in-error")
PREGNANCY_DAYS = 42 * 7


@dataclass(frozen=True)
class Lists:
    hyp: frozenset
    hyp_res: frozenset
    sys: frozenset
    dia: frozenset
    home: frozenset
    preg: frozenset
    pall: frozenset
    diab: frozenset
    diab_res: frozenset
    egfr: frozenset
    bmi: frozenset
    cvd: tuple           # the CHD, stroke/TIA and PAD registers' code sets (no resolved lists)
    eth: dict            # code → (group, category)

    @classmethod
    def load(cls, v: Vocab) -> "Lists":
        f = lambda *names: frozenset().union(*(v.pairs(n) for n in names))  # noqa: E731
        return cls(f("hypertension"), f("hypertension_resolved"), f("bp_systolic"), f("bp_diastolic"),
                   frozenset(v.setting_pairs("home", "abpm")), f("pregnancy"), f("palliative"),
                   f("diabetes"), f("diabetes_resolved"), f("egfr"), f("bmi"),
                   (f("chd"), f("stroke_tia"), f("pad")),
                   {(r["system"], r["code"]): (r.get("group", ""), r.get("category", ""))
                    for r in v.rows("ethnicity")})


def _on_register(rows, codes, resolved_codes) -> bool:
    """Latest diagnosis not followed (or matched the same day) by a resolution."""
    diag = [r["date"] for r in rows if (r["system"], r["code"]) in codes and r["status"] == "active"]
    if not diag:
        return False
    latest = max(diag)
    return not any(r["date"] >= latest for r in rows
                   if ((r["system"], r["code"]) in resolved_codes and r["status"] == "active")
                   or ((r["system"], r["code"]) in codes and r["status"] == "resolved"))


def _latest_value(rows, codes):
    found = [(r["date"], r["value"]) for r in rows
             if (r["system"], r["code"]) in codes and r["value"] is not None]
    return max(found)[1] if found else None


def hypertension_band(patient: dict, events: list[dict], as_of: dt.date, L: Lists):
    """The band the patient must be listed in, or None when they must not be listed.

    Returns (band, reading) where reading is (date, systolic, diastolic, setting) for the record.
    """
    p = patient
    if p["registration_start"] and p["registration_start"] > as_of:
        return None
    if p["registration_end"] and p["registration_end"] <= as_of:
        return None
    if p["death_date"] and p["death_date"] <= as_of:
        return None
    if age_on(p["birth_date"], as_of) < 18:
        return None
    rows = [r for r in events if r["status"] not in IGNORED and r["date"] <= as_of]
    if _on_register(rows, L.hyp, L.hyp_res):
        return None
    if any((r["system"], r["code"]) in L.pall for r in rows):
        return None
    preg_from = as_of - dt.timedelta(days=PREGNANCY_DAYS)
    if any((r["system"], r["code"]) in L.preg and r["date"] >= preg_from for r in rows):
        return None

    window_from = add_months(as_of, -24)
    days: dict[dt.date, list] = {}
    for r in rows:
        if r["date"] < window_from:
            continue
        key = (r["system"], r["code"])
        d = days.setdefault(r["date"], [None, None, False])
        if key in L.home:
            d[2] = True
        if r["value"] is None:
            continue
        if key in L.sys and 40 <= r["value"] <= 350:
            d[0] = r["value"] if d[0] is None else min(d[0], r["value"])
        elif key in L.dia and 20 <= r["value"] <= 200:
            d[1] = r["value"] if d[1] is None else min(d[1], r["value"])
    paired = [(day, s, di, home) for day, (s, di, home) in days.items() if s is not None and di is not None]
    if not paired:
        return None
    day, s, di, home = max(paired)
    sev, st2, st1 = ((170, 115), (150, 95), (135, 85)) if home else ((180, 120), (160, 100), (140, 90))
    reading = (day, s, di, "home" if home else "clinic")
    if s >= sev[0] or di >= sev[1]:
        return "severe", reading
    if s >= st2[0] or di >= st2[1]:
        return "stage 2", reading
    if not (s >= st1[0] or di >= st1[1]):
        return None
    return ("stage 1 with risk factor" if _risk_factor(rows, L) else "stage 1"), reading


def _risk_factor(rows, L: Lists) -> bool:
    eth = [(r["date"], L.eth[(r["system"], r["code"])]) for r in rows
           if (r["system"], r["code"]) in L.eth and L.eth[(r["system"], r["code"])][0] != "Not stated"]
    if eth:
        group, category = max(eth)[1]
        if group == "Black" or category in SOUTH_ASIAN:
            return True
    if _on_register(rows, L.diab, L.diab_res):
        return True
    egfr = _latest_value(rows, L.egfr)
    if egfr is not None and egfr < 60:
        return True
    bmi = _latest_value(rows, L.bmi)
    if bmi is not None and bmi > 35:
        return True
    # CVD: on the CHD, stroke/TIA or PAD register (the latest diagnosis not resolved on or after it),
    # as the registers are read everywhere (CLINICAL_RULES §0); a resolved CVD Condition is not a risk factor.
    return any(_on_register(rows, codes, frozenset()) for codes in L.cvd)
