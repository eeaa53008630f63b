"""Cancer safety-netting: CLINICAL_RULES §7 (NICE NG12; Faster Diagnosis Standard).

Eligible adults with an overdue gap in the suspected-cancer pathway. Four gaps, each listed when it holds:

* referral_no_outcome — an urgent suspected-cancer referral (a code in ``cancer_urgent_referral``; the
  code marks it urgent, the priority field is not required) in the window, more than
  ``referral_wait_days`` old, with no outcome from its date up to ``as_of``: its ``outcome_date`` (a
  finished linked encounter) or an outcome / cancer-diagnosis code on or after it. ``status`` is not
  evidence (GP Connect says "unknown"); a cancelled, revoked, draft or entered-in-error referral is
  not a referral.
* fit_not_referred — FIT ≥ ``fit_at_least`` µg Hb/g in the window, no urgent cancer referral on or
  after it, more than ``result_wait_days`` old.
* psa_not_referred — PSA above the threshold for the age at the test (none outside 40–79), no
  urological urgent referral on or after it, more than ``result_wait_days`` old.
* platelets_not_actioned — age ≥ ``platelets_min_age`` at the test, platelets > ``platelets_above``,
  no chest X-ray or urgent cancer referral on or after it, more than ``result_wait_days`` old.

The wait is the time allowed before a gap is overdue: an outcome or referral recorded after it
still closes the gap. Days overdue = as_of − (date + wait). The band is the gap with the most days
overdue (ties: the order above); every member has band_order 1 and ranks by days overdue.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from engine.cohorts.base import Cohort, Rule, number_text as _num
from engine.query import add_months, age_on, eligible, events_in, lit_date, referrals_in
from engine.record import Record

DEFAULTS = {
    "min_age": 18,
    "window_months": 6,             # referrals and results this recent
    "referral_wait_days": 28,       # Faster Diagnosis Standard: outcome within 28 days
    "result_wait_days": 14,         # an abnormal result acted on within 14 days
    "fit_at_least": 10,             # µg Hb/g faeces
    "psa_above_age_40_49": 2.5,     # ng/mL, by age at the test
    "psa_above_age_50_59": 3.5,
    "psa_above_age_60_69": 4.5,
    "psa_above_age_70_79": 6.5,
    "psa_referral_sites": ["urological"],   # site column of cancer_urgent_referral
    "platelets_above": 400,         # ×10⁹/L
    "platelets_min_age": 40,        # age at the test
}

GAPS = ("referral_no_outcome", "fit_not_referred", "psa_not_referred", "platelets_not_actioned")
LABELS = {
    "referral_no_outcome": "referral without outcome",
    "fit_not_referred": "FIT positive not referred",
    "psa_not_referred": "raised PSA not referred",
    "platelets_not_actioned": "raised platelets not actioned",
}
PSA_BANDS = ((40, 49), (50, 59), (60, 69), (70, 79))


def _referrals(record: Record, as_of: dt.date) -> DataFrame:
    """Urgent suspected-cancer referrals made on or before as_of, with their site."""
    return referrals_in(record, "cancer_urgent_referral", as_of, extra=("term", "site"))


def _last(df: DataFrame, name: str) -> DataFrame:
    return df.groupBy("patient_id").agg(F.max("date").alias(name))


def _overdue(as_of: dt.date, wait: int) -> Column:
    return F.datediff(lit_date(as_of), F.col("date")) - F.lit(wait)


def _most_overdue(df: DataFrame, gap: str, *cols: str) -> DataFrame:
    """One row per patient: the gap's most overdue item, renamed <gap>_<col>, plus how many items."""
    w = Window.partitionBy("patient_id").orderBy(F.col("overdue").desc(), F.col("value").desc_nulls_last(),
                                                 F.col("source_id"), F.col("code"))
    counts = df.groupBy("patient_id").agg(F.countDistinct("source_id").alias(f"{gap}_count"))
    first = df.withColumn("_n", F.row_number().over(w)).where("_n = 1")
    keep = ("date", "code", "term", "value", "overdue", *cols)
    return first.select("patient_id", *[F.col(c).alias(f"{gap}_{c}") for c in keep]).join(counts, "patient_id")


def _results(record: Record, codelist: str, as_of: dt.date, since: dt.date) -> DataFrame:
    return events_in(record, codelist, as_of, since, extra=("term",)).where(F.col("value").isNotNull())


def find(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    since = add_months(as_of, -p["window_months"])
    population = eligible(record, as_of, p["min_age"]).select("patient_id", "birth_date")

    referrals = _referrals(record, as_of)
    last_referral = _last(referrals, "last_referral")
    last_urology = _last(referrals.where(F.col("site").isin(p["psa_referral_sites"])), "last_urology")
    last_xray = _last(events_in(record, "chest_xray", as_of), "last_xray")
    outcomes = events_in(record, "cancer_referral_outcome", as_of).select("patient_id", "date").unionByName(
        events_in(record, "cancer_diagnosis", as_of).select("patient_id", "date"))
    last_outcome = _last(outcomes, "last_outcome")

    # referral_no_outcome
    recent = (referrals.where(F.col("date") >= lit_date(since))
              .withColumn("value", F.lit(None).cast("double")))      # a referral has no value
    linked = F.col("outcome_date").between(F.col("date"), lit_date(as_of))
    open_referrals = (recent.join(last_outcome, "patient_id", "left")
                      .where(~F.coalesce(linked, F.lit(False)))
                      .where(F.col("last_outcome").isNull() | (F.col("last_outcome") < F.col("date")))
                      .withColumn("overdue", _overdue(as_of, p["referral_wait_days"])))

    # fit_not_referred
    fit = _results(record, "fit", as_of, since).where(F.col("value") >= p["fit_at_least"])
    fit_open = (fit.join(last_referral, "patient_id", "left")
                .where(F.col("last_referral").isNull() | (F.col("last_referral") < F.col("date")))
                .withColumn("overdue", _overdue(as_of, p["result_wait_days"])))

    # psa_not_referred: threshold by age at the test
    age_at_test = age_on(F.col("birth_date"), F.col("date"))
    threshold = None
    for lo, hi in PSA_BANDS:
        value = F.lit(float(p[f"psa_above_age_{lo}_{hi}"]))
        threshold = (F.when(age_at_test.between(lo, hi), value) if threshold is None
                     else threshold.when(age_at_test.between(lo, hi), value))
    psa = (_results(record, "psa", as_of, since).join(population, "patient_id")
           .withColumn("age_at_test", age_at_test).withColumn("threshold", threshold)
           .where(F.col("value") > F.col("threshold")))
    psa_open = (psa.join(last_urology, "patient_id", "left")
                .where(F.col("last_urology").isNull() | (F.col("last_urology") < F.col("date")))
                .withColumn("overdue", _overdue(as_of, p["result_wait_days"])))

    # platelets_not_actioned
    platelets = (_results(record, "platelets", as_of, since).join(population, "patient_id")
                 .withColumn("age_at_test", age_at_test)
                 .where((F.col("age_at_test") >= p["platelets_min_age"]) & (F.col("value") > p["platelets_above"])))
    platelets_open = (platelets.join(last_referral, "patient_id", "left").join(last_xray, "patient_id", "left")
                      .withColumn("last_action", F.greatest("last_referral", "last_xray"))   # nulls skipped
                      .where(F.col("last_action").isNull() | (F.col("last_action") < F.col("date")))
                      .withColumn("overdue", _overdue(as_of, p["result_wait_days"])))

    triggered = (recent.select("patient_id").union(fit.select("patient_id")).union(psa.select("patient_id"))
                 .union(platelets.select("patient_id")).distinct().withColumn("has_trigger", F.lit(True)))
    df = (population.join(triggered, "patient_id", "left")
          .join(_most_overdue(open_referrals.where("overdue > 0"), "referral_no_outcome", "site"), "patient_id", "left")
          .join(_most_overdue(fit_open.where("overdue > 0"), "fit_not_referred"), "patient_id", "left")
          .join(_most_overdue(psa_open.where("overdue > 0"), "psa_not_referred", "age_at_test", "threshold"),
                "patient_id", "left")
          .join(_most_overdue(platelets_open.where("overdue > 0"), "platelets_not_actioned", "age_at_test"),
                "patient_id", "left"))
    for gap in GAPS:
        df = df.withColumn(gap, F.col(f"{gap}_overdue").isNotNull())

    df = df.withColumn("days_overdue", F.greatest(*[F.col(f"{g}_overdue") for g in GAPS]))
    top = None
    for gap in GAPS:
        hit = F.col(f"{gap}_overdue") == F.col("days_overdue")
        top = F.when(hit, F.lit(gap)) if top is None else top.when(hit, F.lit(gap))
    df = df.withColumn("top", top)

    def from_top(suffix: str) -> Column:
        out = None
        for gap in GAPS:
            is_top = F.col("top") == gap
            col = F.col(f"{gap}_{suffix}")
            out = F.when(is_top, col) if out is None else out.when(is_top, col)
        return out

    item_name = F.when(F.col("top") == "referral_no_outcome", F.col("referral_no_outcome_term")) \
        .when(F.col("top") == "fit_not_referred", F.lit("FIT")) \
        .when(F.col("top") == "psa_not_referred", F.lit("PSA")) \
        .when(F.col("top") == "platelets_not_actioned", F.lit("platelets"))

    def since_text(gap: str) -> Column:
        return F.concat(F.lit(" on "), F.col(f"{gap}_date").cast("string"))

    def overdue_text(gap: str, wait: int, several: str) -> Column:
        more = F.when(F.col(f"{gap}_count") > 1, F.concat(
            F.lit("; "), F.col(f"{gap}_count").cast("string"), F.lit(f" {several}"))).otherwise(F.lit(""))
        return F.concat(F.lit(": "), F.col(f"{gap}_overdue").cast("string"),
                        F.lit(f" days overdue ({wait}-day wait"), more, F.lit(")"))

    rw, tw = p["referral_wait_days"], p["result_wait_days"]
    texts = {
        "referral_no_outcome": F.concat(
            F.lit("Urgent suspected-cancer referral ("), F.col("referral_no_outcome_term"), F.lit(")"),
            since_text("referral_no_outcome"), F.lit(" has no outcome recorded"), overdue_text("referral_no_outcome", rw, "open referrals")),
        "fit_not_referred": F.concat(
            F.lit("FIT "), _num(F.col("fit_not_referred_value")), F.lit(" µg Hb/g"), since_text("fit_not_referred"),
            F.lit(f" (≥{_plain(p['fit_at_least'])}) with no urgent cancer referral since"),
            overdue_text("fit_not_referred", tw, "results not acted on")),
        "psa_not_referred": F.concat(
            F.lit("PSA "), _num(F.col("psa_not_referred_value")), F.lit(" ng/mL"), since_text("psa_not_referred"),
            F.lit(" at age "), F.col("psa_not_referred_age_at_test").cast("string"),
            F.lit(" (>"), _num(F.col("psa_not_referred_threshold")),
            F.lit(") with no urological urgent referral since"), overdue_text("psa_not_referred", tw, "results not acted on")),
        "platelets_not_actioned": F.concat(
            F.lit("Platelets "), _num(F.col("platelets_not_actioned_value")), F.lit(" ×10⁹/L"),
            since_text("platelets_not_actioned"), F.lit(" at age "),
            F.col("platelets_not_actioned_age_at_test").cast("string"),
            F.lit(f" (>{_plain(p['platelets_above'])}) with no chest X-ray or urgent cancer referral since"),
            overdue_text("platelets_not_actioned", tw, "results not acted on")),
    }
    # Every gap's sentence, most overdue first (ties in the gap order).
    parts = F.array(*[F.when(F.col(g), F.struct(F.col(f"{g}_overdue").alias("d"), F.lit(-i).alias("o"),
                                                 texts[g].alias("t")))
                      for i, g in enumerate(GAPS)])
    reason = F.concat(F.array_join(F.transform(F.sort_array(F.filter(parts, lambda x: x.isNotNull()), asc=False),
                                               lambda x: x["t"]), "; "), F.lit("."))
    gaps_text = F.concat_ws("; ", *[F.when(F.col(g), F.lit(LABELS[g])) for g in GAPS])

    def ev(gap: str, *cols: str) -> Column:
        return F.struct(F.col(f"{gap}_date").cast("string").alias("date"), F.col(f"{gap}_code").alias("code"),
                        F.col(f"{gap}_term").alias("term"), *[F.col(f"{gap}_{c}").alias(c) for c in cols],
                        F.col(f"{gap}_overdue").alias("days_overdue"), F.col(f"{gap}_count").alias("count"))
    evidence = F.to_json(F.struct(
        F.lit(since.isoformat()).alias("window_start"),
        ev("referral_no_outcome", "site").alias("referral_no_outcome"),
        ev("fit_not_referred", "value").alias("fit_not_referred"),
        ev("psa_not_referred", "value", "age_at_test", "threshold").alias("psa_not_referred"),
        ev("platelets_not_actioned", "value", "age_at_test").alias("platelets_not_actioned")))

    member = F.col("top").isNotNull()
    return df.select(
        "patient_id",
        F.coalesce(F.col("has_trigger"), F.lit(False)).alias("has_trigger"),
        member.alias("has_gap"),
        *GAPS,
        F.when(member, gaps_text).alias("gaps"),
        F.when(member, F.element_at(F.create_map(*[x for g in GAPS for x in (F.lit(g), F.lit(LABELS[g]))]),
                                    F.col("top"))).alias("band"),
        F.when(member, F.lit(1)).alias("band_order"),
        F.when(member, reason).alias("reason"),
        F.when(member, evidence).alias("evidence"),
        "days_overdue",
        item_name.alias("item"),
        from_top("code").alias("item_code"),
        from_top("value").alias("item_value"),
        from_top("date").alias("item_date"))


def _plain(x) -> str:
    """10 rather than 10.0 in the sentences built from parameters."""
    return f"{x:g}"


COHORT = Cohort(
    name="cancer_safety_netting",
    title="Cancer safety-netting",
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
    defaults=DEFAULTS,
    rules=(
        Rule("has_trigger", "An urgent suspected-cancer referral, FIT ≥{fit_at_least}, raised PSA for age or "
                            "platelets >{platelets_above} (age {platelets_min_age}+) in the last {window_months} months"),
        Rule("has_gap", "Not followed up: referral with no outcome after {referral_wait_days} days, or result "
                        "not acted on after {result_wait_days} days"),
    ),
    find=find,
    rank=(("days_overdue", True), ("item_date", False)),
    columns=("gaps", "days_overdue", "item", "item_code", "item_value", "item_date", *GAPS),
)
