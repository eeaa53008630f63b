"""Planted cases for the undiagnosed-hypertension cohort: positives at every band edge, and near misses.

Each scenario is a name, the band it must produce (None = a near miss that must not be listed),
and a function writing the records. Scenario patients start with no risk factors (White British,
no diabetes, CVD, low eGFR or high BMI) so each risk factor is tested on its own. The band in
truth.csv is still recomputed from the records; a test checks it matches the band named here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from synthetic_data.chart import Chart
from synthetic_data.people import add_months, add_years

S1R = "stage 1 with risk factor"


@dataclass(frozen=True)
class Scenario:
    name: str
    band: str | None
    build: Callable[[Chart], None]
    sex: str | None = None
    ages: tuple[int, int] = (30, 80)
    own_ethnicity: bool = False      # the scenario writes the ethnicity codes itself
    cohort: str = "hypertension"     # the cohort whose band (or near miss) this scenario plants


def _recent(c: Chart) -> dt.date:
    """A day for the decisive reading: inside the 24-month window, not on as_of."""
    return c.ago(c.rng.randrange(7, 400))


def _reading(s, d, setting="clinic", style=None, extra=None):
    def build(c: Chart):
        day = _recent(c)
        c.bp(day - dt.timedelta(days=c.rng.randrange(800, 1500)), 124, 78)   # an old normal reading
        if extra:
            extra(c, day)
        c.bp(day, s, d, setting, style)
    return build


def _with_ethnicity(*categories):
    def extra(c: Chart, day):
        category = categories[c.rng.randrange(len(categories))]
        c.ethnicity(day - dt.timedelta(days=c.rng.randrange(30, 900)), c.eth.code_for(c.rng, category))
    return extra


def _with_condition(listname, *codes, **kw):
    def extra(c: Chart, day):
        c.condition(c.v.pick(listname, c.rng.choice(codes) if codes else ""),
                    day - dt.timedelta(days=c.rng.randrange(100, 3000)), **kw)
    return extra


def _with_values(kind, *values):
    """Values oldest first, the last one latest, each on its own day before the reading."""
    def extra(c: Chart, day):
        for k, value in enumerate(values):
            getattr(c, kind)(day - dt.timedelta(days=30 + 200 * (len(values) - 1 - k)), value)
    return extra


def _cvd_resolved_later(listname, code):
    """A CVD diagnosis, then a later Condition with the same code whose clinicalStatus is resolved:
    off the register (its latest diagnosis is resolved on or after it), so not a risk factor."""
    def extra(c: Chart, day):
        onset = day - dt.timedelta(days=c.rng.randrange(1500, 3000))
        c.condition(c.v.pick(listname, code), onset)
        c.condition(c.v.pick(listname, code), onset + dt.timedelta(days=400), clinical="resolved",
                    abatement=onset + dt.timedelta(days=700))
    return extra


def _cvd_resolved(listname, code):
    """One CVD Condition, resolved (abatement) years before the reading."""
    def extra(c: Chart, day):
        onset = day - dt.timedelta(days=c.rng.randrange(1500, 3000))
        c.condition(c.v.pick(listname, code), onset, clinical="resolved", abatement=onset + dt.timedelta(days=500))
    return extra


def _cvd_resolved_then_again(c: Chart, day):
    onset = day - dt.timedelta(days=3000)
    c.condition(c.v.pick("chd", "53741008"), onset, clinical="resolved", abatement=onset + dt.timedelta(days=300))
    c.condition(c.v.pick("chd", "194828000"), day - dt.timedelta(days=600))


def _diabetes_resolved(c: Chart, day):
    onset = day - dt.timedelta(days=2000)
    c.condition(c.v.pick("diabetes", "44054006"), onset)
    c.obs(onset + dt.timedelta(days=900), c.v.pick("diabetes_resolved", "315051004"))


def _black_then_not_stated(c: Chart, day):
    first = day - dt.timedelta(days=700)
    c.ethnicity(first, c.eth.code_for(c.rng, "Caribbean"))
    c.ethnicity(first + dt.timedelta(days=200), c.eth.not_stated)


def _hyp(c: Chart, day):
    return c.v.pick("hypertension", "38341003")


def _resolved_code(c: Chart, day):
    onset = day - dt.timedelta(days=2200)
    c.condition(_hyp(c, day), onset)
    c.obs(day - dt.timedelta(days=700), c.v.pick("hypertension_resolved", "162659009"))


def _resolved_same_day(c: Chart, day):
    onset = day - dt.timedelta(days=1500)
    c.condition(_hyp(c, day), onset)
    c.obs(onset, c.v.pick("hypertension_resolved", "162659009"))


def _resolved_condition(c: Chart, day):
    c.condition(_hyp(c, day), day - dt.timedelta(days=2500), clinical="resolved",
                abatement=day - dt.timedelta(days=800))


def _rediagnosed(c: Chart, day):
    c.condition(_hyp(c, day), day - dt.timedelta(days=3000))
    c.obs(day - dt.timedelta(days=1500), c.v.pick("hypertension_resolved", "162659009"))
    c.condition(c.v.pick("hypertension", "59621000"), day - dt.timedelta(days=300))


def _multi_reading_day(c: Chart):
    day = _recent(c)
    c.bp(day, 186, 104, minute=9 * 60 + 10)
    c.bp(day, 164, 110, minute=9 * 60 + 25)   # lowest systolic 164 + lowest diastolic 104 → stage 2


def _lowest_normal(c: Chart):
    day = _recent(c)
    c.bp(day, 150, 95, minute=10 * 60)
    c.bp(day, 135, 85, minute=10 * 60 + 20)


def _on_day(day_of, s, d):
    def build(c: Chart):
        c.bp(day_of(c), s, d)
    return build


def _normal_after_raised(c: Chart):
    c.bp(c.ago(240), 170, 100)
    c.bp(c.ago(60), 130, 80)


def _deceased(c: Chart):
    c.p["death_date"] = c.ago(60)
    c.bp(c.ago(150), 170, 100)


def _deregistered(c: Chart):
    c.p["registration_end"] = c.ago(90)
    c.bp(c.ago(180), 170, 100)


def _pregnant(c: Chart):
    c.condition(c.v.pick("pregnancy", "77386006"), c.ago(70))
    c.bp(c.ago(21), 170, 100)


def _old_pregnancy(c: Chart):
    c.condition(c.v.pick("pregnancy", "77386006"), c.ago(50 * 7))
    c.bp(c.ago(30), 150, 95)


def _palliative(c: Chart):
    c.procedure(c.ago(200), c.v.pick("palliative", "103735009"))
    c.bp(c.ago(100), 170, 100)


def _aged(years_minus_days):
    years, minus_days = years_minus_days

    def build(c: Chart):
        c.p["birth_date"] = add_years(c.as_of, -years) + dt.timedelta(days=minus_days)
        c.p["registration_start"] = c.p["birth_date"] + dt.timedelta(days=10)
        c.bp(c.ago(40), 168, 98)
    return build


def _bp_entered_in_error(c: Chart):
    c.bp(c.ago(200), 130, 80)
    c.bp(c.ago(30), 175, 100, status="entered-in-error")


def _future_raised(c: Chart):
    c.bp(c.ago(90), 125, 80)
    c.bp(c.as_of + dt.timedelta(days=20), 175, 105)


SCENARIOS: list[Scenario] = [
    # clinic thresholds, each edge exactly, systolic-only and diastolic-only
    Scenario("clinic severe systolic 180", "severe", _reading(180, 85)),
    Scenario("clinic severe diastolic 120", "severe", _reading(135, 120)),
    Scenario("clinic stage 2 systolic 160", "stage 2", _reading(160, 85)),
    Scenario("clinic stage 2 diastolic 100", "stage 2", _reading(135, 100)),
    Scenario("clinic stage 1 systolic 140", "stage 1", _reading(140, 80)),
    Scenario("clinic stage 1 diastolic 90", "stage 1", _reading(130, 90)),
    Scenario("clinic 179/119 is stage 2", "stage 2", _reading(179, 119)),
    Scenario("clinic 159/99 is stage 1", "stage 1", _reading(159, 99)),
    # home / ABPM thresholds
    Scenario("home severe systolic 170", "severe", _reading(170, 80, "home")),
    Scenario("home severe diastolic 115", "severe", _reading(130, 115, "home")),
    Scenario("home stage 2 systolic 150", "stage 2", _reading(150, 80, "home")),
    Scenario("home stage 2 diastolic 95", "stage 2", _reading(130, 95, "home")),
    Scenario("home stage 1 systolic 135", "stage 1", _reading(135, 80, "home")),
    Scenario("home stage 1 diastolic 85", "stage 1", _reading(128, 85, "home")),
    Scenario("home 169/114 is stage 2", "stage 2", _reading(169, 114, "home")),
    Scenario("home 149/94 is stage 1", "stage 1", _reading(149, 94, "home")),
    Scenario("ABPM 24-hour average stage 2", "stage 2", _reading(152, 84, "abpm", "abpm_24h")),
    Scenario("self-measured marker makes 138/84 a home stage 1", "stage 1",
             _reading(138, 84, "home", "home_marker")),
    Scenario("UK Core dual-coded panel stage 2", "stage 2", _reading(162, 88, "clinic", "ukcore_panel")),
    Scenario("LOINC panel stage 1", "stage 1", _reading(144, 86, "clinic", "loinc_panel")),
    # stage 1 with each risk factor on its own
    Scenario("risk factor: Black ethnicity", S1R, _reading(146, 86, extra=_with_ethnicity("African", "Caribbean")),
             own_ethnicity=True),
    Scenario("risk factor: South Asian ethnicity", S1R,
             _reading(146, 86, extra=_with_ethnicity("Indian", "Pakistani", "Bangladeshi")),
             own_ethnicity=True),
    Scenario("risk factor: latest Black code then 'not stated'", S1R, _reading(146, 86, extra=_black_then_not_stated),
             own_ethnicity=True),
    Scenario("risk factor: diabetes", S1R, _reading(146, 86, extra=_with_condition("diabetes", "44054006", "46635009"))),
    Scenario("risk factor: eGFR 59", S1R, _reading(146, 86, extra=_with_values("egfr", 75, 59))),
    Scenario("risk factor: BMI 35.1", S1R, _reading(146, 86, extra=_with_values("bmi", 31.0, 35.1))),
    Scenario("risk factor: CHD", S1R, _reading(146, 86, extra=_with_condition("chd", "53741008", "22298006"))),
    Scenario("risk factor: stroke/TIA", S1R, _reading(146, 86, extra=_with_condition("stroke_tia", "230690007", "266257000"))),
    Scenario("risk factor: PAD", S1R, _reading(146, 86, extra=_with_condition("pad", "840580004", "400047006"))),
    Scenario("risk factor at home: BMI 36.2", S1R, _reading(137, 80, "home", extra=_with_values("bmi", 36.2))),
    # risk-factor boundaries: listed, but in plain stage 1
    Scenario("no risk factor: eGFR 60", "stage 1", _reading(146, 86, extra=_with_values("egfr", 60))),
    Scenario("no risk factor: BMI 35.0", "stage 1", _reading(146, 86, extra=_with_values("bmi", 35.0))),
    Scenario("no risk factor: eGFR 52 then latest 68", "stage 1", _reading(146, 86, extra=_with_values("egfr", 52, 68))),
    Scenario("no risk factor: diabetes resolved", "stage 1", _reading(146, 86, extra=_diabetes_resolved)),
    # CVD is the CHD / stroke-TIA / PAD registers: a CVD code resolved later is not a risk factor
    Scenario("no risk factor: CHD diagnosis then a later resolved CHD Condition", "stage 1",
             _reading(146, 86, extra=_cvd_resolved_later("chd", "53741008"))),
    Scenario("no risk factor: stroke Condition resolved", "stage 1",
             _reading(146, 86, extra=_cvd_resolved("stroke_tia", "230690007"))),
    Scenario("no risk factor: PAD diagnosis then a later resolved PAD Condition", "stage 1",
             _reading(146, 86, extra=_cvd_resolved_later("pad", "840580004"))),
    Scenario("risk factor: CHD resolved, then angina diagnosed", S1R, _reading(146, 86, extra=_cvd_resolved_then_again)),
    # diagnosis records that do not put the patient on the register
    Scenario("hypertension resolved code, BP still high", "stage 2", _reading(165, 92, extra=_resolved_code)),
    Scenario("hypertension resolved the same day as diagnosed", "stage 2", _reading(165, 92, extra=_resolved_same_day)),
    Scenario("hypertension Condition resolved, BP still high", "stage 2", _reading(165, 92, extra=_resolved_condition)),
    Scenario("hypertension diagnosis entered in error", "stage 2",
             _reading(165, 92, extra=_with_condition("hypertension", "38341003", verification="entered-in-error"))),
    Scenario("hypertension diagnosis refuted", "stage 2",
             _reading(165, 92, extra=_with_condition("hypertension", "59621000", verification="refuted"))),
    # dates and days
    Scenario("several readings on one day: the lowest decide", "stage 2", _multi_reading_day),
    Scenario("raised reading exactly 24 months old", "stage 2", _on_day(lambda c: add_months(c.as_of, -24), 165, 92)),
    Scenario("raised reading on the as-of date", "stage 1", _on_day(lambda c: c.as_of, 150, 92)),
    Scenario("aged 18 on the as-of date", "stage 2", _aged((18, 0))),
    Scenario("pregnancy code 50 weeks ago", "stage 1", _old_pregnancy, sex="female", ages=(20, 42)),
    # near misses: must not be listed
    Scenario("near miss: clinic 139/89", None, _reading(139, 89)),
    Scenario("near miss: home 134/84", None, _reading(134, 84, "home")),
    Scenario("near miss: on the register with high BP", None,
             _reading(172, 102, extra=_with_condition("hypertension", "38341003", "59621000"))),
    Scenario("near miss: resolved then diagnosed again", None, _reading(165, 95, extra=_rediagnosed)),
    Scenario("near miss: raised reading 24 months and 1 day old", None,
             _on_day(lambda c: add_months(c.as_of, -24) - dt.timedelta(days=1), 172, 102)),
    Scenario("near miss: normal reading after a raised one", None, _normal_after_raised),
    Scenario("near miss: raised day whose lowest values are normal", None, _lowest_normal),
    Scenario("near miss: deceased", None, _deceased),
    Scenario("near miss: deregistered", None, _deregistered),
    Scenario("near miss: pregnant (code 10 weeks ago)", None, _pregnant, sex="female", ages=(20, 42)),
    Scenario("near miss: palliative care", None, _palliative),
    Scenario("near miss: aged 17 (18 tomorrow)", None, _aged((18, 1))),
    Scenario("near miss: raised reading entered in error", None, _bp_entered_in_error),
    Scenario("near miss: raised reading after the as-of date", None, _future_raised),
]

UNASSIGNED_SCENARIO = Scenario("practice with no PCN", "stage 2", _reading(166, 96))
