"""Cancer safety-netting: CLINICAL_RULES §7 (NICE NG12; Faster Diagnosis Standard).

Eligible adults with an overdue gap in the suspected-cancer pathway. Four gaps, each listed when it holds:

* referral_no_outcome — an urgent suspected-cancer referral (``ref_cancer_urgent_referral``; the code
  marks it urgent, the priority field is not required) in the window, more than ``referral_wait_days``
  old, with no outcome from its date up to ``as_of``: its ``outcome_date`` (a finished linked
  encounter) or an outcome / cancer-diagnosis code on or after it. ``status`` is not evidence (GP
  Connect says "unknown"); a cancelled, revoked, draft or entered-in-error referral is not in the facts.
* fit_not_referred — FIT ≥ ``fit_at_least`` µg Hb/g in the window, no urgent cancer referral on or
  after it, more than ``result_wait_days`` old.
* psa_not_referred — PSA above the threshold for the age at the test (none outside 40–79), no
  urgent referral to a ``psa_referral_sites`` site on or after it, more than ``result_wait_days`` old.
* platelets_not_actioned — age ≥ ``platelets_min_age`` at the test, platelets > ``platelets_above``,
  no chest X-ray or urgent cancer referral on or after it, more than ``result_wait_days`` old.

The wait is the time allowed before a gap is overdue: an outcome or referral recorded after it
still closes the gap. Days overdue = as_of − (date + wait). Per gap, ``<gap>_open`` holds the open
overdue items (each with its days overdue), ``<gap>_top`` the most overdue (then highest value,
then source_id, then code) and ``<gap>_count`` how many distinct records are open. The band is the
gap with the most days overdue (ties: the order above); every band has order 1, so the worklist
ranks by days overdue, then the item's date.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F

from engine.cohorts.declaration import Band, Cohort, Criterion
from engine.config import Param
from engine.features import rows as R
from engine.features.rows import add_months, age_on, lit_date, number_text as _num

PARAMETERS = {
    "min_age": Param("int", 0, 120),
    "window_months": Param("int", 1, 120),          # referrals and results this recent
    "referral_wait_days": Param("int", 0, 365),     # Faster Diagnosis Standard: outcome within 28 days
    "result_wait_days": Param("int", 0, 365),       # an abnormal result acted on within 14 days
    "fit_at_least": Param("number", 0, 10000),      # µg Hb/g faeces
    **{f"psa_above_age_{lo}_{hi}": Param("number", 0, 1000) for lo, hi in ((40, 49), (50, 59), (60, 69), (70, 79))},
    "psa_referral_sites": Param("list[str]"),       # site column of cancer_urgent_referral
    "platelets_above": Param("number", 0, 5000),    # ×10⁹/L
    "platelets_min_age": Param("int", 0, 120),      # age at the test
}

GAPS = ("referral_no_outcome", "fit_not_referred", "psa_not_referred", "platelets_not_actioned")
LABELS = {
    "referral_no_outcome": "referral without outcome",
    "fit_not_referred": "FIT positive not referred",
    "psa_not_referred": "raised PSA not referred",
    "platelets_not_actioned": "raised platelets not actioned",
}
PSA_BANDS = ((40, 49), (50, 59), (60, 69), (70, 79))
# The fields each gap's items carry beyond date, code, term, value, source_id, overdue (evidence order).
EXTRA = {"referral_no_outcome": ("site",), "fit_not_referred": (), "psa_not_referred": ("age_at_test", "threshold"),
         "platelets_not_actioned": ("age_at_test",)}
REFERRALS = "ref_cancer_urgent_referral"


def _plain(x) -> str:
    """10 rather than 10.0 in the sentences built from parameters."""
    return f"{x:g}"


def _top(gap: str, field: str) -> Column:
    return F.col(f"{gap}_top")[field]


def _item(x: Column, wait: int, as_of: dt.date, **extra: Column) -> Column:
    """One coded row as a gap item: its date, code, term, value, extra fields, source_id and days overdue."""
    return F.struct(x["date"].alias("date"), x["code"].alias("code"), x["term"].alias("term"),
                    x["value"].alias("value"), *[c.alias(k) for k, c in extra.items()],
                    x["source_id"].alias("source_id"),
                    (F.datediff(lit_date(as_of), x["date"]) - F.lit(wait)).alias("overdue"))


def _psa_threshold(p: dict, age: Column) -> Column:
    threshold = None
    for lo, hi in PSA_BANDS:
        value = F.lit(float(p[f"psa_above_age_{lo}_{hi}"]))
        threshold = (F.when(age.between(lo, hi), value) if threshold is None
                     else threshold.when(age.between(lo, hi), value))
    return threshold


def derive(p: dict, as_of: dt.date) -> list[dict[str, Column]]:
    since = add_months(as_of, -p["window_months"])
    day = lit_date(as_of)
    rw, tw = p["referral_wait_days"], p["result_wait_days"]

    def results(codelist: str) -> Column:
        """Active valued results in the window."""
        return R.where(f"ev_{codelist}", since, valued=True)

    def dates(rows: Column) -> Column:
        return F.array_max(F.transform(rows, lambda x: x["date"]))

    def at_test(x: Column) -> Column:
        return age_on(F.col("birth_date"), x["date"])

    # Stage 1: what happened (every referral, X-ray and outcome up to as_of) and the triggers in the window.
    happened = {
        "last_referral": R.last_date(REFERRALS, status=None),
        "last_urology": dates(F.filter(R.rows(REFERRALS), lambda x: x["tag"].isin(p["psa_referral_sites"]))),
        "last_xray": R.last_date("ev_chest_xray"),
        "last_outcome": F.greatest(R.last_date("ev_cancer_referral_outcome"), R.last_date("ev_cancer_diagnosis")),
        "recent_referrals": F.transform(R.where(REFERRALS, since, status=None), lambda x: F.struct(
            x["date"].alias("date"), x["code"].alias("code"), x["term"].alias("term"),
            F.lit(None).cast("double").alias("value"), x["tag"].alias("site"), x["source_id"].alias("source_id"),
            x["outcome_date"].alias("outcome_date"))),
        "fit_raised": F.filter(results("fit"), lambda x: x["value"] >= p["fit_at_least"]),
        "psa_raised": F.filter(results("psa"), lambda x: x["value"] > _psa_threshold(p, at_test(x))),
        "platelets_raised": F.filter(results("platelets"), lambda x: (at_test(x) >= p["platelets_min_age"]) &
                                     (x["value"] > p["platelets_above"])),
    }

    # Stage 2: the open items of each gap with their days overdue, overdue ones only.
    def unclosed(x: Column, *last: str) -> Column:
        closed = F.greatest(*[F.col(c) for c in last]) if len(last) > 1 else F.col(last[0])   # nulls skipped
        return closed.isNull() | (closed < x["date"])

    def overdue(rows: Column) -> Column:
        return F.filter(rows, lambda x: x["overdue"] > 0)

    linked = lambda x: F.coalesce(x["outcome_date"].between(x["date"], day), F.lit(False))   # noqa: E731
    opened = {
        "referral_no_outcome_open": overdue(F.transform(
            F.filter(F.col("recent_referrals"), lambda x: ~linked(x) & unclosed(x, "last_outcome")),
            lambda x: _item(x, rw, as_of, site=x["site"]))),
        "fit_not_referred_open": overdue(F.transform(
            F.filter(F.col("fit_raised"), lambda x: unclosed(x, "last_referral")),
            lambda x: _item(x, tw, as_of))),
        "psa_not_referred_open": overdue(F.transform(
            F.filter(F.col("psa_raised"), lambda x: unclosed(x, "last_urology")),
            lambda x: _item(x, tw, as_of, age_at_test=at_test(x), threshold=_psa_threshold(p, at_test(x))))),
        "platelets_not_actioned_open": overdue(F.transform(
            F.filter(F.col("platelets_raised"), lambda x: unclosed(x, "last_referral", "last_xray")),
            lambda x: _item(x, tw, as_of, age_at_test=at_test(x)))),
        "triggered": (F.size(F.col("recent_referrals")) + F.size(F.col("fit_raised")) + F.size(F.col("psa_raised"))
                      + F.size(F.col("platelets_raised"))) > 0,
    }

    # Stage 3: each gap's most overdue item (overdue desc, value desc nulls last, source_id, code) and count.
    def most_overdue(rows: Column) -> Column:
        return F.array_min(F.transform(rows, lambda x: F.struct(
            (-x["overdue"]).alias("k0"), x["value"].isNull().alias("k1"), (-x["value"]).alias("k2"),
            x["source_id"].alias("k3"), x["code"].alias("k4"), x.alias("item"))))["item"]

    def count(rows: Column) -> Column:
        n = R.count_distinct(rows)
        return F.when(F.size(rows) > 0, n)
    tops = {}
    for gap in GAPS:
        tops[f"{gap}_top"] = most_overdue(F.col(f"{gap}_open"))
        tops[f"{gap}_count"] = count(F.col(f"{gap}_open"))

    # Stage 4: which gaps hold, the most overdue, and the top gap (ties: the GAPS order).
    flags = {gap: _top(gap, "overdue").isNotNull() for gap in GAPS}
    flags["days_overdue"] = F.greatest(*[_top(g, "overdue") for g in GAPS])

    def top_gap() -> Column:
        out = None
        for gap in GAPS:
            hit = _top(gap, "overdue") == F.col("days_overdue")
            out = F.when(hit, F.lit(gap)) if out is None else out.when(hit, F.lit(gap))
        return out

    def from_top(field: str) -> Column:
        out = None
        for gap in GAPS:
            is_top = F.col("top_gap") == gap
            out = F.when(is_top, _top(gap, field)) if out is None else out.when(is_top, _top(gap, field))
        return out

    item_name = (F.when(F.col("top_gap") == "referral_no_outcome", _top("referral_no_outcome", "term"))
                 .when(F.col("top_gap") == "fit_not_referred", F.lit("FIT"))
                 .when(F.col("top_gap") == "psa_not_referred", F.lit("PSA"))
                 .when(F.col("top_gap") == "platelets_not_actioned", F.lit("platelets")))
    listed = F.col("triggered") & F.col("top_gap").isNotNull()
    return [
        happened, opened, tops, flags,
        {"top_gap": top_gap()},
        {"gaps": F.when(listed, F.concat_ws("; ", *[F.when(F.col(g), F.lit(LABELS[g])) for g in GAPS])),
         "item": item_name, "item_code": from_top("code"), "item_value": from_top("value"),
         "item_date": from_top("date")},
    ]


def reason(p: dict, as_of: dt.date) -> Column:
    rw, tw = p["referral_wait_days"], p["result_wait_days"]

    def since_text(gap: str) -> Column:
        return F.concat(F.lit(" on "), _top(gap, "date").cast("string"))

    def overdue_text(gap: str, wait: int, several: str) -> Column:
        n = F.col(f"{gap}_count")
        more = F.when(n > 1, F.concat(F.lit("; "), n.cast("string"), F.lit(f" {several}"))).otherwise(F.lit(""))
        return F.concat(F.lit(": "), _top(gap, "overdue").cast("string"), F.lit(f" days overdue ({wait}-day wait"),
                        more, F.lit(")"))

    texts = {
        "referral_no_outcome": F.concat(
            F.lit("Urgent suspected-cancer referral ("), _top("referral_no_outcome", "term"), F.lit(")"),
            since_text("referral_no_outcome"), F.lit(" has no outcome recorded"),
            overdue_text("referral_no_outcome", rw, "open referrals")),
        "fit_not_referred": F.concat(
            F.lit("FIT "), _num(_top("fit_not_referred", "value")), F.lit(" µg Hb/g"), since_text("fit_not_referred"),
            F.lit(f" (≥{_plain(p['fit_at_least'])}) with no urgent cancer referral since"),
            overdue_text("fit_not_referred", tw, "results not acted on")),
        "psa_not_referred": F.concat(
            F.lit("PSA "), _num(_top("psa_not_referred", "value")), F.lit(" ng/mL"), since_text("psa_not_referred"),
            F.lit(" at age "), _top("psa_not_referred", "age_at_test").cast("string"),
            F.lit(" (>"), _num(_top("psa_not_referred", "threshold")),
            F.lit(") with no urological urgent referral since"),
            overdue_text("psa_not_referred", tw, "results not acted on")),
        "platelets_not_actioned": F.concat(
            F.lit("Platelets "), _num(_top("platelets_not_actioned", "value")), F.lit(" ×10⁹/L"),
            since_text("platelets_not_actioned"), F.lit(" at age "),
            _top("platelets_not_actioned", "age_at_test").cast("string"),
            F.lit(f" (>{_plain(p['platelets_above'])}) with no chest X-ray or urgent cancer referral since"),
            overdue_text("platelets_not_actioned", tw, "results not acted on")),
    }
    # Every gap's sentence, most overdue first (ties in the gap order).
    parts = F.array(*[F.when(F.col(g), F.struct(_top(g, "overdue").alias("d"), F.lit(-i).alias("o"),
                                                 texts[g].alias("t")))
                      for i, g in enumerate(GAPS)])
    return F.concat(F.array_join(F.transform(F.sort_array(F.filter(parts, lambda x: x.isNotNull()), asc=False),
                                             lambda x: x["t"]), "; "), F.lit("."))


def evidence(p: dict, as_of: dt.date) -> list[Column]:
    since = add_months(as_of, -p["window_months"])

    def ev(gap: str) -> Column:
        # A struct of (possibly null) fields, never a null struct: an absent gap is {} in the JSON.
        return F.struct(_top(gap, "date").cast("string").alias("date"), _top(gap, "code").alias("code"),
                        _top(gap, "term").alias("term"),
                        *([] if gap == "referral_no_outcome" else [_top(gap, "value").alias("value")]),
                        *[_top(gap, c).alias(c) for c in EXTRA[gap]],
                        _top(gap, "overdue").alias("days_overdue"), F.col(f"{gap}_count").alias("count")).alias(gap)
    return [F.lit(since.isoformat()).alias("window_start"), *[ev(g) for g in GAPS]]


COHORT = Cohort(
    name="cancer_safety_netting",
    title="Cancer safety-netting",
    section="§7",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date with an overdue gap in the suspected-cancer "
        "pathway, from the last {window_months} months: an urgent suspected-cancer referral with no outcome "
        "(a finished linked appointment, a 'seen in fast-track clinic' or outcome code, or a cancer diagnosis on or "
        "after it) more than {referral_wait_days} days later; a FIT ≥{fit_at_least} µg Hb/g with no urgent cancer "
        "referral on or after it; a PSA above the threshold for the age at the test (40–49 >{psa_above_age_40_49}, "
        "50–59 >{psa_above_age_50_59}, 60–69 >{psa_above_age_60_69}, 70–79 >{psa_above_age_70_79} ng/mL; no "
        "threshold outside 40–79) with no urological urgent referral (referral sites: {psa_referral_sites}) on or after it; platelets "
        ">{platelets_above} ×10⁹/L at age {platelets_min_age}+ with no chest X-ray or urgent cancer referral on or "
        "after it — each result more than {result_wait_days} days old. The referral code marks it urgent (the "
        "priority field is not needed); its status is not an outcome (GP Connect returns 'unknown'); a cancelled, "
        "revoked or entered-in-error referral does not count. An outcome or referral recorded after the wait still "
        "closes the gap. Days overdue = run date − (date + wait); the band is the most overdue gap and the list is "
        "ranked by days overdue. Source: NICE NG12, Faster Diagnosis Standard."),
    parameters=PARAMETERS,
    derive=derive,
    criteria=(
        Criterion("has_trigger", "An urgent suspected-cancer referral, FIT ≥{fit_at_least}, raised PSA for age or "
                                 "platelets >{platelets_above} (age {platelets_min_age}+) in the last {window_months} months",
                  lambda p: F.col("triggered")),
        Criterion("has_gap", "Not followed up: referral with no outcome after {referral_wait_days} days, or result "
                             "not acted on after {result_wait_days} days",
                  lambda p: F.col("top_gap").isNotNull()),
    ),
    bands=tuple(Band(LABELS[g], (lambda gap: lambda p: F.col("top_gap") == gap)(g), order=1) for g in GAPS),
    reason=reason,
    evidence=evidence,
    rank=(("days_overdue", True), ("item_date", False)),
    columns=("gaps", "days_overdue", "item", "item_code", "item_value", "item_date", *GAPS),
)
