"""Cancer safety-netting (CLINICAL_RULES §7): planted scenarios and an independent answer key.

Scenario patients start with no history but a White British ethnicity code. Referrals are
ServiceRequests; an outcome is a finished Encounter based on one (``Chart.referral(seen_on=...)``),
a 'seen in fast-track clinic' code, or a cancer diagnosis. PSA results are planted only for men.
"""
from __future__ import annotations

import datetime as dt

from synthetic_data.chart import Chart
from synthetic_data.cohorts.common import REFERRAL_NOT_MADE, Rows, add_months, age_on, eligible
from synthetic_data.people import add_years
from synthetic_data.scenarios import Scenario

COHORT = "cancer_safety_netting"

# The rule's defaults, restated (CLINICAL_RULES §7 and the lead's interpretations).
MIN_AGE = 18
WINDOW_MONTHS = 6
REFERRAL_WAIT = 28
RESULT_WAIT = 14
FIT_AT_LEAST = 10
PSA_ABOVE = ((40, 49, 2.5), (50, 59, 3.5), (60, 69, 4.5), (70, 79, 6.5))
PSA_SITES = ("urological",)
PLATELETS_ABOVE = 400
PLATELETS_MIN_AGE = 40

REF = "referral without outcome"
FIT = "FIT positive not referred"
PSA = "raised PSA not referred"
PLT = "raised platelets not actioned"
ORDER = (REF, FIT, PSA, PLT)     # ties on days overdue go to the earlier gap

FIT_UNIT, PSA_UNIT, PLT_UNIT = "ug/g", "ng/mL", "10*9/L"


# -- the answer key ---------------------------------------------------------------------------------
def _psa_threshold(age: int) -> float | None:
    for lo, hi, above in PSA_ABOVE:
        if lo <= age <= hi:
            return above
    return None


def truth(p: dict, rows: Rows, as_of: dt.date, v) -> str | None:
    if not eligible(p, as_of, MIN_AGE):
        return None
    since = add_months(as_of, -WINDOW_MONTHS)
    site = {(r["system"], r["code"]): r.get("site", "") for r in v.rows("cancer_urgent_referral")}
    referrals = [r for r in rows.referrals if (r["system"], r["code"]) in site
                 and (r["status"] or "").lower() not in REFERRAL_NOT_MADE and r["date"] <= as_of]
    events = [e for e in rows.valid_events(as_of) if e["status"] == "active"]
    outcome_codes = v.pairs("cancer_referral_outcome") | v.pairs("cancer_diagnosis")
    outcome_days = [e["date"] for e in events if (e["system"], e["code"]) in outcome_codes]
    xray_days = [e["date"] for e in events if (e["system"], e["code"]) in v.pairs("chest_xray")]

    def overdue(day: dt.date, wait: int) -> int:
        return (as_of - day).days - wait

    def results(listname: str) -> list[dict]:
        codes = v.pairs(listname)
        return [e for e in events if (e["system"], e["code"]) in codes and e["value"] is not None
                and since <= e["date"]]

    def referred_on_or_after(day: dt.date, sites=None) -> bool:
        return any(r["date"] >= day for r in referrals if sites is None or site[(r["system"], r["code"])] in sites)

    worst: dict[str, int] = {}

    def gap(band: str, days: int) -> None:
        if days > 0:
            worst[band] = max(worst.get(band, 0), days)

    for r in referrals:
        if r["date"] < since:
            continue
        linked = r["outcome_date"] is not None and r["date"] <= r["outcome_date"] <= as_of
        if not linked and not any(d >= r["date"] for d in outcome_days):
            gap(REF, overdue(r["date"], REFERRAL_WAIT))
    for e in results("fit"):
        if e["value"] >= FIT_AT_LEAST and not referred_on_or_after(e["date"]):
            gap(FIT, overdue(e["date"], RESULT_WAIT))
    for e in results("psa"):
        threshold = _psa_threshold(age_on(p["birth_date"], e["date"]))
        if threshold is not None and e["value"] > threshold and not referred_on_or_after(e["date"], PSA_SITES):
            gap(PSA, overdue(e["date"], RESULT_WAIT))
    for e in results("platelets"):
        if (age_on(p["birth_date"], e["date"]) >= PLATELETS_MIN_AGE and e["value"] > PLATELETS_ABOVE
                and not referred_on_or_after(e["date"]) and not any(d >= e["date"] for d in xray_days)):
            gap(PLT, overdue(e["date"], RESULT_WAIT))
    if not worst:
        return None
    most = max(worst.values())
    return next(band for band in ORDER if worst.get(band) == most)


TRUTHS = {COHORT: truth}


# -- planting -----------------------------------------------------------------------------------------
SITE_CODES = ("276341000000100", "276401000000108", "892201000000106", "276551000000108", "276491000000101",
              "276311000000101", "276281000000104", "280521000000108", "1556551000000104", "199251000000107")
LOWER_GI, UROLOGY, BREAST = "276401000000108", "276431000000102", "276341000000100"


def _ref(c: Chart, code: str | None = None):
    return c.v.pick("cancer_urgent_referral", code or c.rng.choice(SITE_CODES))


def _referral(day, code=None, **kw):
    """A referral on ``day(c)`` (a function of the chart) with nothing after it."""
    def build(c: Chart):
        c.referral(day(c), _ref(c, code), **{"priority": "urgent", **kw})
    return build


def _days(lo: int, hi: int):
    return lambda c: c.ago(c.rng.randrange(lo, hi))


def _exact(days: int):
    return lambda c: c.ago(days)


def _months(months: int, extra_days: int = 0):
    return lambda c: add_months(c.as_of, -months) - dt.timedelta(days=extra_days)


def _seen(c: Chart, day: dt.date, code: str, after_days: int = 7):
    """An urgent referral whose appointment took place ``after_days`` later (the outcome)."""
    c.referral(day, _ref(c, code), "urgent", seen_on=day + dt.timedelta(days=after_days))


def _fit(c, day, value):
    c.lab(day, c.v.pick("fit", "1049361000000101", "1049371000000108"), value, FIT_UNIT)


def _psa(c, day, value):
    c.lab(day, c.v.pick("psa", c.rng.choice(("63476009", "2857-1"))), value, PSA_UNIT)


def _platelets(c, day, value):
    c.lab(day, c.v.pick("platelets", c.rng.choice(("1022651000000100", "1108041000000107", "777-3"))), value,
          PLT_UNIT)


def _result(kind, day, value, then=None):
    def build(c: Chart):
        d = day(c)
        kind(c, d, value)
        if then:
            then(c, d)
    return build


# referral scenarios
def _planned_only(c: Chart):
    day = c.ago(c.rng.randrange(50, 120))
    c.referral(day, _ref(c), "urgent", seen_on=day + dt.timedelta(days=12), seen_status="planned")


def _seen_in_time(c: Chart):
    _seen(c, c.ago(c.rng.randrange(40, 150)), None, c.rng.randrange(5, 27))


def _seen_late(c: Chart):
    _seen(c, c.ago(c.rng.randrange(80, 150)), None, c.rng.randrange(35, 60))


def _seen_code(c: Chart):
    day = c.ago(c.rng.randrange(40, 150))
    c.referral(day, _ref(c, LOWER_GI), "urgent")
    c.obs(day + dt.timedelta(days=c.rng.randrange(7, 30)),
          c.v.pick("cancer_referral_outcome", "382651000000108"))


def _diagnosed(c: Chart):
    day = c.ago(c.rng.randrange(60, 150))
    c.referral(day, _ref(c, BREAST), "urgent")
    c.condition(c.v.pick("cancer_diagnosis", "254837009"), day + dt.timedelta(days=c.rng.randrange(10, 40)))


def _old_cancer_new_referral(c: Chart):
    c.condition(c.v.pick("cancer_diagnosis", "363406005"), c.ago(c.rng.randrange(900, 2000)))
    c.referral(c.ago(c.rng.randrange(40, 150)), _ref(c), "urgent")


def _aged_17(c: Chart):
    c.p["birth_date"] = add_years(c.as_of, -18) + dt.timedelta(days=c.rng.randrange(1, 200))
    c.p["registration_start"] = c.p["birth_date"] + dt.timedelta(days=10)
    c.referral(c.ago(60), _ref(c, "276371000000106"), "urgent")


def _deregistered(c: Chart):
    c.referral(c.ago(120), _ref(c), "urgent")
    c.p["registration_end"] = c.ago(30)


# result scenarios
def _fit_after_seen_referral(c: Chart):
    _seen(c, c.ago(c.rng.randrange(130, 170)), LOWER_GI)
    _fit(c, c.ago(c.rng.randrange(30, 110)), 36)


def _fit_referred(lo, hi):
    def then(c: Chart, day):
        _seen(c, day + dt.timedelta(days=c.rng.randrange(lo, hi)), LOWER_GI)
    return then


def _psa_referral(code):
    def then(c: Chart, day):
        _seen(c, day + dt.timedelta(days=c.rng.randrange(3, 12)), code)
    return then


def _psa_49_at_test(c: Chart):
    test = c.ago(60)
    c.p["birth_date"] = add_years(test, -50) + dt.timedelta(days=c.rng.randrange(1, 50))   # 50 before as_of
    c.p["registration_start"] = c.p["birth_date"] + dt.timedelta(days=10)
    _psa(c, test, 3.0)


def _platelets_at_age(years, days_short):
    def build(c: Chart):
        test = c.ago(c.rng.randrange(30, 120))
        c.p["birth_date"] = add_years(test, -years) + dt.timedelta(days=days_short)
        c.p["registration_start"] = c.p["birth_date"] + dt.timedelta(days=10)
        _platelets(c, test, 401)
    return build


def _xray(c: Chart, day):
    c.procedure(day, c.v.pick("chest_xray", "399208008"))


def _xray_after(c: Chart, day):
    _xray(c, day + dt.timedelta(days=c.rng.randrange(2, 30)))


def _xray_before(c: Chart, day):
    _xray(c, day - dt.timedelta(days=c.rng.randrange(10, 200)))


def _any_referral_after(c: Chart, day):
    _seen(c, day + dt.timedelta(days=c.rng.randrange(3, 20)), None)


# several gaps
def _referral_then_fit(c: Chart):
    c.referral(c.ago(110), _ref(c), "urgent")        # 82 days overdue
    _fit(c, c.ago(50), 24)                            # 36


def _fit_more_overdue(c: Chart):
    c.referral(c.ago(100), _ref(c), "urgent")        # 72 days overdue
    _fit(c, c.ago(95), 24)                            # 81: after the referral, so not referred


def _all_four(c: Chart):
    c.referral(c.ago(90), _ref(c, BREAST), "urgent")  # 62
    _fit(c, c.ago(80), 12)                            # 66
    _psa(c, c.ago(120), 9.5)                          # 106 (a breast referral is not urological)
    _platelets(c, c.ago(85), 470)                     # 71


def _psa_scenarios():
    out = []
    for lo, hi, above in PSA_ABOVE:
        ages = (lo + 1, hi - 1)
        out.append(Scenario(f"{COHORT}: PSA {round(above + 0.1, 1)} at age {lo}-{hi}", PSA,
                            _result(_psa, _days(30, 150), round(above + 0.1, 1)), sex="male", ages=ages, cohort=COHORT))
        out.append(Scenario(f"{COHORT}: near miss: PSA exactly {above} at age {lo}-{hi}", None,
                            _result(_psa, _days(30, 150), above), sex="male", ages=ages, cohort=COHORT))
    return out


def S(name, band, build, **kw):
    return Scenario(f"{COHORT}: {name}", band, build, cohort=COHORT, **kw)


SCENARIOS: list[Scenario] = [
    # referral_no_outcome
    S("urgent referral with no outcome", REF, _referral(_days(40, 170)), ages=(25, 88)),
    S("urgent referral 29 days ago, no outcome", REF, _referral(_exact(29)), ages=(25, 88)),
    S("urgent referral exactly 6 months ago, no outcome", REF, _referral(_months(6)), ages=(25, 88)),
    S("urgent referral with only a planned appointment", REF, _planned_only, ages=(25, 88)),
    S("urgent-by-code referral with routine priority", REF, _referral(_days(40, 170), priority="routine"),
      ages=(25, 88)),
    S("referral status completed is not an outcome", REF, _referral(_days(40, 170), status="completed"),
      ages=(25, 88)),
    S("cancer diagnosed before the referral is not its outcome", REF, _old_cancer_new_referral, ages=(45, 88)),
    S("near miss: urgent referral exactly 28 days ago", None, _referral(_exact(28)), ages=(25, 88)),
    S("near miss: urgent referral 6 months and 1 day ago", None, _referral(_months(6, 1)), ages=(25, 88)),
    S("near miss: referral seen within 28 days", None, _seen_in_time, ages=(25, 88)),
    S("near miss: referral seen after 28 days", None, _seen_late, ages=(25, 88)),
    S("near miss: seen in fast-track clinic code", None, _seen_code, ages=(25, 88)),
    S("near miss: cancer diagnosed after the referral", None, _diagnosed, sex="female", ages=(30, 88)),
    S("near miss: referral revoked", None, _referral(_days(40, 170), status="revoked"), ages=(25, 88)),
    S("near miss: referral entered in error", None, _referral(_days(40, 170), status="entered-in-error"),
      ages=(25, 88)),
    S("near miss: aged 17 with a referral", None, _aged_17, ages=(17, 17)),
    S("near miss: deregistered after a referral", None, _deregistered, ages=(25, 88)),
    # fit_not_referred
    S("FIT exactly 10, not referred", FIT, _result(_fit, _days(30, 170), 10), ages=(40, 88)),
    S("FIT 15 days ago, not referred", FIT, _result(_fit, _exact(15), 48), ages=(40, 88)),
    S("FIT exactly 6 months ago, not referred", FIT, _result(_fit, _months(6), 31), ages=(40, 88)),
    S("FIT after an earlier referral", FIT, _fit_after_seen_referral, ages=(40, 88)),
    S("near miss: FIT 9.9", None, _result(_fit, _days(30, 170), 9.9), ages=(40, 88)),
    S("near miss: FIT 14 days ago", None, _result(_fit, _exact(14), 48), ages=(40, 88)),
    S("near miss: FIT 6 months and 1 day ago", None, _result(_fit, _months(6, 1), 31), ages=(40, 88)),
    S("near miss: FIT referred within 14 days", None, _result(_fit, _days(40, 170), 55, _fit_referred(0, 14)),
      ages=(40, 88)),
    S("near miss: FIT referred after 14 days", None, _result(_fit, _days(60, 170), 55, _fit_referred(20, 40)),
      ages=(40, 88)),
    # psa_not_referred (thresholds at each age band, above and exactly at)
    *_psa_scenarios(),
    S("PSA 3.0 at 49 on the test day, 50 now", PSA, _psa_49_at_test, sex="male", ages=(50, 50)),
    S("PSA with a non-urological referral after", PSA,
      _result(_psa, _days(40, 150), 8.2, _psa_referral(LOWER_GI)), sex="male", ages=(55, 78)),
    S("near miss: PSA 12 at age 80+ (no threshold)", None, _result(_psa, _days(30, 150), 12), sex="male",
      ages=(81, 92)),
    S("near miss: PSA 12 under 40 (no threshold)", None, _result(_psa, _days(30, 150), 12), sex="male",
      ages=(30, 39)),
    S("near miss: PSA referred to urology", None, _result(_psa, _days(40, 150), 8.2, _psa_referral(UROLOGY)),
      sex="male", ages=(55, 78)),
    S("near miss: PSA 6 months and 1 day ago", None, _result(_psa, _months(6, 1), 9.0), sex="male",
      ages=(55, 78)),
    # platelets_not_actioned
    S("platelets 401 on the 40th birthday", PLT, _platelets_at_age(40, 0)),
    S("platelets with a chest X-ray only before", PLT, _result(_platelets, _days(30, 150), 530, _xray_before),
      ages=(45, 88)),
    S("near miss: platelets 400", None, _result(_platelets, _days(30, 150), 400), ages=(45, 88)),
    S("near miss: platelets 401 the day before the 40th birthday", None, _platelets_at_age(40, 1)),
    S("near miss: platelets with a chest X-ray after", None, _result(_platelets, _days(40, 150), 530, _xray_after),
      ages=(45, 88)),
    S("near miss: platelets with an urgent referral after", None,
      _result(_platelets, _days(40, 150), 530, _any_referral_after), ages=(45, 88)),
    S("near miss: platelets 6 months and 1 day ago", None, _result(_platelets, _months(6, 1), 530), ages=(45, 88)),
    # several gaps: the most overdue is the band
    S("referral more overdue than a later FIT", REF, _referral_then_fit, ages=(45, 88)),
    S("FIT more overdue than the referral before it", FIT, _fit_more_overdue, ages=(45, 88)),
    S("all four gaps, PSA most overdue", PSA, _all_four, sex="male", ages=(71, 78)),
]

__all__ = ["SCENARIOS", "TRUTHS"]
