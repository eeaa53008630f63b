"""Possible undiagnosed heart failure (CLINICAL_RULES §6): planted cases and the answer key.

The answer key reads the rows as the generator wrote them: NT-proBNP in ng/L or pg/mL (equal) is
used as is, any other unit (or none) is ignored, as ingest quarantines it. A cardiology referral
counts whether it was written as a ServiceRequest (referrals) or as a coded procedure (Synthea).
"""
from __future__ import annotations

import datetime as dt
import re

from synthetic_data.chart import Chart
from synthetic_data.cohorts.common import (REFERRAL_NOT_MADE, Rows, add_months, eligible, has_code, issues,
                                           on_register)
from synthetic_data.scenarios import Scenario

COHORT = "heart_failure"
URGENT = "urgent — specialist and echo within 2 weeks"
SOON = "specialist and echo within 6 weeks"
LOOP = "loop diuretic without heart failure diagnosis"

MIN_AGE, TEST_MONTHS, RAISED_ABOVE, URGENT_ABOVE = 18, 24, 400, 2000
LOOP_MONTHS, LOOP_MIN_ISSUES = 6, 2
NG_L_UNITS = ("ng/l", "pg/ml")


# --- answer key ---------------------------------------------------------------------------------
def _ng_l(row) -> float | None:
    unit = re.sub(r"\{[^}]*\}|\s+", "", row["unit"] or "").lower()
    return row["value"] if unit in NG_L_UNITS else None


def latest_test(events, codes, since):
    """(date, ng/L) of the latest NT-proBNP on or after ``since`` (highest on a tie), else None."""
    found = [(r["date"], _ng_l(r)) for r in events
             if (r["system"], r["code"]) in codes and r["status"] == "active" and r["value"] is not None
             and r["date"] >= since and _ng_l(r) is not None]
    return max(found) if found else None


def followed_up(rows: Rows, events, v, since, as_of) -> bool:
    """An echocardiogram or cardiology referral (either table) dated ``since`` ≤ date ≤ ``as_of``."""
    coded = v.pairs("echocardiogram") | v.pairs("cardiology_referral")
    if has_code(events, coded, since):
        return True
    return any((r["system"], r["code"]) in v.pairs("cardiology_referral") and since <= r["date"] <= as_of
               and r["status"] not in REFERRAL_NOT_MADE for r in rows.referrals)


def truth(p, rows: Rows, as_of, v):
    if not eligible(p, as_of, MIN_AGE):
        return None
    events = rows.valid_events(as_of)
    if on_register(events, v.pairs("heart_failure")):
        return None
    test = latest_test(events, v.pairs("ntprobnp"), add_months(as_of, -TEST_MONTHS))
    if test and test[1] > RAISED_ABOVE and not followed_up(rows, events, v, test[0], as_of):
        return URGENT if test[1] > URGENT_ABOVE else SOON
    # the loop-diuretic band: no heart failure code ever, active or resolved (a resolved code means the
    # diagnosis was made; refuted and entered-in-error ones are not codes at all, §0)
    hf_ever = any((r["system"], r["code"]) in v.pairs("heart_failure") for r in events)
    if not hf_ever and issues(rows, as_of, v.pairs("med_loop_diuretic"),
                              add_months(as_of, -LOOP_MONTHS)) >= LOOP_MIN_ISSUES:
        return LOOP
    return None


TRUTHS = {COHORT: truth}


# --- planted cases --------------------------------------------------------------------------------
def _test(c: Chart, day, value, unit="ng/L", loinc=False, status="final"):
    return c.obs(day, c.v.pick("ntprobnp", "33762-6" if loinc else "414799001"), value, unit, status=status)


def _echo(c: Chart, day, status="completed"):
    return c.procedure(day, c.v.pick("echocardiogram", "40701008"), status)


def _referral(c: Chart, day, status="active"):
    return c.referral(day, c.v.pick("cardiology_referral", "183519002"), "urgent", status)


def _issues(c: Chart, code, *days_ago, status="completed"):
    coding = c.v.pick("med_loop_diuretic", code)
    for back in days_ago:
        c.issue(c.ago(back), coding, status)


def result_only(value, unit="ng/L", loinc=False):
    def build(c: Chart):
        _test(c, c.ago(c.rng.randrange(10, 600)), value, unit, loinc)
    return build


def result_then(value, follow, offset):
    """A raised test, then ``follow`` (echo / referral / procedure) ``offset`` days later."""
    def build(c: Chart):
        day = c.ago(c.rng.randrange(100, 600))
        _test(c, day, value)
        follow(c, day + dt.timedelta(days=offset))
    return build


def _referral_procedure(c: Chart, day):
    c.procedure(day, c.v.pick("cardiology_referral", "183519002"))


def _on_day(day_of, value):
    def build(c: Chart):
        _test(c, day_of(c), value)
    return build


def _normal_after_raised(c: Chart):
    _test(c, c.ago(500), 1800)
    _test(c, c.ago(90), 250)


def _with_hf(clinical="active", verification="confirmed", abated=False):
    def build(c: Chart):
        onset = c.ago(c.rng.randrange(900, 3000))
        c.condition(c.v.pick("heart_failure", "84114007"), onset, clinical, verification,
                    onset + dt.timedelta(days=300) if abated else None)
        _test(c, c.ago(c.rng.randrange(10, 400)), 2300)
    return build


def loop(code, *days_ago, status="completed"):
    def build(c: Chart):
        _issues(c, code, *days_ago)
        if status != "completed":
            _issues(c, code, 75, status=status)
    return build


def _loop_with_hf(c: Chart):
    c.condition(c.v.pick("heart_failure", "42343007"), c.ago(1500))
    _issues(c, "317972000", 20, 80)


def _loop_with_hf_status(clinical="active", verification="confirmed"):
    def build(c: Chart):
        onset = c.ago(c.rng.randrange(900, 2500))
        c.condition(c.v.pick("heart_failure", "84114007"), onset, clinical, verification,
                    onset + dt.timedelta(days=300) if clinical == "resolved" else None)
        _issues(c, "317972000", 20, 80)
    return build


def _loop_and_urgent(c: Chart):
    _test(c, c.ago(50), 3100)
    _issues(c, "313988", 15, 45, 75)


def _loop_and_actioned(c: Chart):
    day = c.ago(300)
    _test(c, day, 3100)
    _echo(c, day + dt.timedelta(days=12))
    _issues(c, "317972000", 30, 90)


def _exactly_6_months(c: Chart):
    _issues(c, "317972000", 10)
    c.issue(add_months(c.as_of, -LOOP_MONTHS), c.v.pick("med_loop_diuretic", "317972000"))


def _6_months_and_a_day(c: Chart):
    _issues(c, "317972000", 10)
    c.issue(add_months(c.as_of, -LOOP_MONTHS) - dt.timedelta(days=1), c.v.pick("med_loop_diuretic", "317972000"))


def loop_repeat(start, end=None, status="active", supply_days=None, code=None, style=None):
    """A loop diuretic on repeat (CLINICAL_RULES §0): started ``start`` (lo, hi) days ago; ``end``: its
    validity ended that many days ago. Off the 6-month edge, so FHIR and the GP extract agree."""
    def build(c: Chart):
        first = c.ago(c.rng.randrange(*start))
        last = c.ago(c.rng.randrange(*end)) if end else None
        coding = c.v.pick("med_loop_diuretic", code or c.rng.choice(("317972000", "318021009")))
        c.authorisation(first, coding, end=last, status=status, supply_days=supply_days,
                        style=style)
    return build


def _deceased(c: Chart):
    c.p["death_date"] = c.ago(30)
    _test(c, c.ago(200), 2600)


def S(name, band, build, ages=(50, 88), **kw):
    return Scenario(f"heart_failure: {name}", band, build, ages=ages, cohort=COHORT, **kw)


SCENARIOS = [
    # NT-proBNP thresholds (ng/L, UK SNOMED), edges exact
    S("NT-proBNP 2600 ng/L, no echo", URGENT, result_only(2600)),
    S("NT-proBNP 2001 ng/L", URGENT, result_only(2001)),
    S("NT-proBNP exactly 2000 ng/L", SOON, result_only(2000)),
    S("NT-proBNP 401 ng/L", SOON, result_only(401)),
    S("near miss: NT-proBNP exactly 400 ng/L", None, result_only(400)),
    # US Synthea style: LOINC, pg/mL (= ng/L)
    S("LOINC NT-proBNP 1200 pg/mL", SOON, result_only(1200, "pg/mL", loinc=True)),
    S("LOINC NT-proBNP 2700 pg/mL", URGENT, result_only(2700, "pg/mL", loinc=True)),
    S("near miss: NT-proBNP 900 in pmol/L (unknown unit, quarantined)", None, result_only(900, "pmol/L")),
    # actioned or not: echo / cardiology referral on or after the test
    S("near miss: echocardiogram 3 weeks after the test", None, result_then(2400, _echo, 21)),
    S("near miss: echocardiogram on the day of the test", None, result_then(900, _echo, 0)),
    S("echocardiogram the day before the test", SOON, result_then(900, _echo, -1)),
    S("echocardiogram after the test not done", SOON, result_then(900, lambda c, d: _echo(c, d, "not-done"), 14)),
    S("near miss: cardiology referral after the test", None, result_then(2400, _referral, 5)),
    S("near miss: cardiology referral recorded as a procedure (Synthea)", None,
      result_then(2400, _referral_procedure, 5)),
    S("cardiology referral entered in error", URGENT,
      result_then(2400, lambda c, d: _referral(c, d, "entered-in-error"), 5)),
    # the test window and the latest test
    S("NT-proBNP 900 exactly 24 months ago", SOON, _on_day(lambda c: add_months(c.as_of, -TEST_MONTHS), 900)),
    S("near miss: NT-proBNP 900 24 months and a day ago", None,
      _on_day(lambda c: add_months(c.as_of, -TEST_MONTHS) - dt.timedelta(days=1), 900)),
    S("near miss: normal NT-proBNP after a raised one", None, _normal_after_raised),
    S("near miss: raised NT-proBNP after the as-of date", None, _on_day(lambda c: c.as_of + dt.timedelta(days=5), 2500)),
    # the register
    S("near miss: on the heart failure register", None, _with_hf()),
    S("heart failure Condition resolved", URGENT, _with_hf("resolved", abated=True)),
    S("heart failure diagnosis entered in error", URGENT, _with_hf(verification="entered-in-error")),
    # loop diuretics without a diagnosis
    S("two furosemide issues (dm+d)", LOOP, loop("317972000", 20, 80)),
    S("furosemide as Synthea writes it (RxNorm 313988)", LOOP, loop("313988", 25, 55, 85)),
    S("bumetanide (RxNorm)", LOOP, loop("197418", 30, 120)),
    S("torasemide (dm+d)", LOOP, loop("318041004", 14, 100)),
    S("second furosemide issue exactly 6 months ago", LOOP, _exactly_6_months),
    S("near miss: second furosemide issue 6 months and a day ago", None, _6_months_and_a_day),
    S("near miss: one furosemide issue", None, loop("317972000", 40)),
    S("near miss: one furosemide issue and one cancelled", None, loop("317972000", 40, status="cancelled")),
    S("near miss: loop diuretic with a heart failure diagnosis", None, _loop_with_hf),
    S("near miss: loop diuretics with a resolved heart failure Condition", None, _loop_with_hf_status("resolved")),
    S("loop diuretics, heart failure diagnosis entered in error", LOOP,
      _loop_with_hf_status(verification="entered-in-error")),
    S("urgent NT-proBNP outranks loop diuretics", URGENT, _loop_and_urgent),
    S("loop diuretics after a raised NT-proBNP that was echoed", LOOP, _loop_and_actioned),
    S("furosemide on repeat in force", LOOP, loop_repeat((100, 400))),
    S("bumetanide (RxNorm) as Synthea's active order", LOOP, loop_repeat((100, 400), code="197418", style="active_order")),
    S("furosemide repeat that ended 3 months ago", LOOP, loop_repeat((300, 400), end=(80, 100), status="completed")),
    S("near miss: furosemide repeat stopped on its first day", None, loop_repeat((30, 150), status="stopped")),
    S("near miss: furosemide repeat that ended 7 months ago", None,
      loop_repeat((300, 500), end=(220, 300), status="completed")),
    S("near miss: furosemide repeat of 112-day supplies since 100 days ago (1 implied issue)", None,
      loop_repeat((80, 100), supply_days=112)),
    S("near miss: deceased", None, _deceased),
]

__all__ = ["SCENARIOS", "TRUTHS"]
