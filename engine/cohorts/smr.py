"""SMR priority patients: CLINICAL_RULES §1 (Network Contract DES, structured medication reviews).

Eligible adults with no structured medication review (SMR) in the window and not on palliative
care, listed when any priority subgroup holds; the row names every subgroup that holds:

- care_home: a care-home resident (``engine.cohorts.care_home.residents``, §2);
- polypharmacy: ≥ 10 current medicines (``engine.query.current_medicines``);
- error_prone: any PINCER hazard with a 3-month issue window — GI_P3A (age ≥ 65, oral NSAID, no
  PPI/H2RA), GI_P3D (oral anticoagulant + oral NSAID), HF_P3I (heart-failure register + oral NSAID),
  KI_P3K (latest eGFR, any date, < 45 + oral NSAID), AS_P3G (asthma register + non-selective
  beta-blocker);
- frail_and_vulnerable: severe frailty — a severe-frailty code ever, or an electronic Frailty Index
  above ``efi_severe_above`` (``engine.features.efi``, §8) — AND any of a housebound code, an
  isolation code, an emergency admission in 12 months, a fall code in 12 months;
- addictive: ≥ 2 issues in 12 months across opioids, gabapentinoids, benzodiazepines and Z-drugs.

Band = number of subgroups met (5 subgroups → band 1 … 1 subgroup → band 5).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from engine.cohorts import care_home
from engine.cohorts.base import Cohort, Rule, number_text as _num
from engine.features.efi import efi, efi_text
from engine.query import (add_months, current_medicines, eligible, has_any, issue_count, issues_in,
                          latest_value, on_register)
from engine.record import Record

DEFAULTS = {
    "min_age": 18,
    "smr_window_months": 12,
    "current_days": 90,
    "polypharmacy_min": 10,
    "hazard_window_months": 3,
    "nsaid_elderly_age": 65,
    "egfr_below": 45.0,
    "efi_severe_above": 0.36,
    "vulnerable_window_months": 12,
    "addictive_window_months": 12,
    "addictive_min_issues": 2,
}

SUBGROUPS = ("care_home", "polypharmacy", "error_prone", "frail_and_vulnerable", "addictive")
ADDICTIVE = (("med_opioid", "opioid"), ("med_gabapentinoid", "gabapentinoid"),
             ("med_benzodiazepine", "benzodiazepine"), ("med_z_drug", "Z-drug"))


def _d(name: str) -> Column:
    return F.col(name).cast("string")


def _hazards(record: Record, as_of: dt.date, p: dict) -> tuple[DataFrame, tuple]:
    """The per-patient inputs of the PINCER hazards, and (name, condition, sentence) per hazard.

    Conditions read ``age`` from the eligible population they are joined to."""
    since = add_months(as_of, -p["hazard_window_months"])
    df = (issue_count(record, "med_nsaid_oral", as_of, since, name="nsaid")
          .join(issue_count(record, "med_ppi_h2ra", as_of, since, name="gastroprotection"), "patient_id", "full")
          .join(issue_count(record, "med_anticoagulant_oral", as_of, since, name="anticoagulant"), "patient_id", "full")
          .join(issue_count(record, "med_beta_blocker_nonselective", as_of, since, name="nsbb"), "patient_id", "full")
          .join(on_register(record, "heart_failure", as_of, name="heart_failure"), "patient_id", "left")
          .join(on_register(record, "asthma", as_of, resolved="asthma_resolved", name="asthma"), "patient_id", "left")
          .join(latest_value(record, "egfr", as_of, name="egfr"), "patient_id", "left"))
    nsaid = F.col("nsaid_last").isNotNull()
    nsaid_text = F.concat(F.lit("oral NSAID (last issued "), _d("nsaid_last"), F.lit(")"))
    rules = (
        ("GI_P3A", nsaid & (F.col("age") >= p["nsaid_elderly_age"]) & F.col("gastroprotection_last").isNull(),
         F.concat(F.lit("GI_P3A aged "), _d("age"), F.lit(" on "), nsaid_text,
                  F.lit(f" without a PPI/H2RA since {since.isoformat()}"))),
        ("GI_P3D", nsaid & F.col("anticoagulant_last").isNotNull(),
         F.concat(F.lit("GI_P3D oral anticoagulant (last issued "), _d("anticoagulant_last"), F.lit(") with "), nsaid_text)),
        ("HF_P3I", nsaid & F.col("heart_failure_date").isNotNull(),
         F.concat(F.lit("HF_P3I heart failure (coded "), _d("heart_failure_date"), F.lit(") with "), nsaid_text)),
        ("KI_P3K", nsaid & (F.col("egfr") < p["egfr_below"]),
         F.concat(F.lit("KI_P3K latest eGFR "), _num(F.col("egfr")), F.lit(" on "), _d("egfr_date"),
                  F.lit(" with "), nsaid_text)),
        ("AS_P3G", F.col("nsbb_last").isNotNull() & F.col("asthma_date").isNotNull(),
         F.concat(F.lit("AS_P3G asthma (coded "), _d("asthma_date"),
                  F.lit(") with a non-selective beta-blocker (last issued "), _d("nsbb_last"), F.lit(")"))),
    )
    return df, rules


def _addictive(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    since = add_months(as_of, -p["addictive_window_months"])
    issues = None
    for codelist, label in ADDICTIVE:
        rows = issues_in(record, codelist, as_of, since).select("patient_id", "source_id", F.lit(label).alias("class"))
        issues = rows if issues is None else issues.unionByName(rows)
    return issues.groupBy("patient_id").agg(
        F.countDistinct("source_id").alias("addictive_issues"),
        F.concat_ws(", ", F.array_sort(F.collect_set("class"))).alias("addictive_classes"))


def _vulnerable(record: Record, as_of: dt.date, p: dict) -> tuple[DataFrame, Column]:
    since = add_months(as_of, -p["vulnerable_window_months"])
    df = (has_any(record, "frailty_severe", as_of, name="severe_frailty")
          .join(has_any(record, "housebound", as_of, name="housebound"), "patient_id", "full")
          .join(has_any(record, "isolated", as_of, name="isolated"), "patient_id", "full")
          .join(has_any(record, "falls", as_of, since=since, name="fall"), "patient_id", "full")
          .join(care_home.emergency_admissions(record, as_of, since), "patient_id", "full")
          .join(efi(record, as_of).select("patient_id", "efi", "efi_deficits", "efi_deficit_list"), "patient_id", "full"))
    text = F.concat_ws("; ",
        F.when(F.col("housebound_date").isNotNull(), F.concat(F.lit("housebound (coded "), _d("housebound_date"), F.lit(")"))),
        F.when(F.col("isolated_date").isNotNull(), F.concat(F.lit("isolated (coded "), _d("isolated_date"), F.lit(")"))),
        F.when(F.col("emergency_admissions").isNotNull(), F.concat(
            _d("emergency_admissions"), F.lit(f" emergency admission(s) since {since.isoformat()}, latest "),
            _d("emergency_admissions_last"))),
        F.when(F.col("fall_date").isNotNull(), F.concat(F.lit("fall coded "), _d("fall_date"))))
    return df, text


def find(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    smr_since = add_months(as_of, -p["smr_window_months"])
    hazards, hazard_rules = _hazards(record, as_of, p)
    vulnerable, vulnerable_text = _vulnerable(record, as_of, p)
    residents = care_home.residents(record, as_of, care_home.COHORT.params()).select(
        "patient_id", "care_home_source", "setting")

    df = (eligible(record, as_of, p["min_age"]).select("patient_id", "age")
          .join(has_any(record, "smr", as_of, since=smr_since, name="smr"), "patient_id", "left")
          .join(has_any(record, "palliative", as_of, name="palliative"), "patient_id", "left")
          .join(residents, "patient_id", "left")
          .join(current_medicines(record, as_of, p["current_days"]), "patient_id", "left")
          .join(hazards, "patient_id", "left")
          .join(vulnerable, "patient_id", "left")
          .join(_addictive(record, as_of, p), "patient_id", "left")
          .withColumn("current_medicines", F.coalesce(F.col("current_medicines"), F.lit(0))))

    df = (df.withColumn("hazards", F.concat_ws(", ", *[F.when(cond, F.lit(name)) for name, cond, _ in hazard_rules]))
            .withColumn("hazard_text", F.concat_ws("; ", *[F.when(cond, text) for _, cond, text in hazard_rules]))
            .withColumn("vulnerable_text", vulnerable_text)
            .withColumn("care_home", F.col("care_home_source").isNotNull())
            .withColumn("polypharmacy", F.col("current_medicines") >= p["polypharmacy_min"])
            .withColumn("error_prone", F.col("hazards") != "")
            .withColumn("efi_severe", F.coalesce(F.col("efi") > p["efi_severe_above"], F.lit(False)))
            .withColumn("severe_frailty", F.col("severe_frailty_date").isNotNull() | F.col("efi_severe"))
            .withColumn("frail_and_vulnerable", F.col("severe_frailty") & (F.col("vulnerable_text") != ""))
            .withColumn("addictive", F.coalesce(F.col("addictive_issues"), F.lit(0)) >= p["addictive_min_issues"]))
    n = sum(F.col(s).cast("int") for s in SUBGROUPS)
    df = (df.withColumn("n_subgroups", n)
            .withColumn("subgroups", F.concat_ws(", ", *[F.when(F.col(s), F.lit(s)) for s in SUBGROUPS]))
            .withColumn("band_order", F.when(F.col("n_subgroups") > 0, 6 - F.col("n_subgroups")))
            .withColumn("band", F.when(F.col("n_subgroups") == 1, F.lit("1 subgroup"))
                        .when(F.col("n_subgroups") > 1, F.concat(_d("n_subgroups"), F.lit(" subgroups")))))

    parts = F.concat_ws("; ",
        F.when(F.col("care_home"), F.concat(F.lit("care home ("), F.col("care_home_source"),
                                            F.when(F.col("setting") != "unknown", F.concat(F.lit(", "), F.col("setting")))
                                             .otherwise(F.lit("")), F.lit(")"))),
        F.when(F.col("polypharmacy"), F.concat(F.lit("polypharmacy ("), _d("current_medicines"),
                                               F.lit(f" medicines issued since {(as_of - dt.timedelta(days=p['current_days'])).isoformat()})"))),
        F.when(F.col("error_prone"), F.concat(F.lit("error-prone prescribing ("), F.col("hazard_text"), F.lit(")"))),
        F.when(F.col("frail_and_vulnerable"), F.concat(
            F.lit("frail and vulnerable ("),
            F.concat_ws(" and ",
                        F.when(F.col("severe_frailty_date").isNotNull(),
                               F.concat(F.lit("severe frailty coded "), _d("severe_frailty_date"))),
                        F.when(F.col("efi_severe"), efi_text("severe frailty by "))),
            F.lit("; "), F.col("vulnerable_text"), F.lit(")"))),
        F.when(F.col("addictive"), F.concat(F.lit("addictive medicines ("), _d("addictive_issues"),
                                            F.lit(f" issues since {add_months(as_of, -p['addictive_window_months']).isoformat()}: "),
                                            F.col("addictive_classes"), F.lit(")"))))
    reason = F.concat(F.col("band"), F.lit(": "), parts,
                      F.lit(f"; no structured medication review since {smr_since.isoformat()}."))
    evidence = F.to_json(F.struct(
        "subgroups", F.col("care_home_source").alias("care_home_source"), "setting", "current_medicines",
        F.when(F.col("hazards") != "", F.col("hazards")).alias("hazards"),
        _d("nsaid_last").alias("nsaid_last_issued"), _d("gastroprotection_last").alias("ppi_h2ra_last_issued"),
        _d("anticoagulant_last").alias("anticoagulant_last_issued"), _d("nsbb_last").alias("nsbb_last_issued"),
        _d("heart_failure_date").alias("heart_failure_coded"), _d("asthma_date").alias("asthma_coded"),
        "egfr", _d("egfr_date").alias("egfr_date"),
        _d("severe_frailty_date").alias("severe_frailty_coded"), "efi", "efi_deficits",
        _d("housebound_date").alias("housebound_coded"),
        _d("isolated_date").alias("isolated_coded"), _d("fall_date").alias("fall_coded"),
        "emergency_admissions", _d("emergency_admissions_last").alias("last_emergency_admission"),
        "addictive_issues", "addictive_classes", "age", F.lit(smr_since.isoformat()).alias("smr_window_start")))

    member = F.col("band_order").isNotNull()
    return df.select(
        "patient_id",
        F.col("smr_date").isNull().alias("no_recent_smr"),
        F.col("palliative_date").isNull().alias("not_palliative"),
        member.alias("any_subgroup"),
        "band", "band_order",
        F.when(member, reason).alias("reason"),
        F.when(member, evidence).alias("evidence"),
        "subgroups", *SUBGROUPS, F.when(F.col("hazards") != "", F.col("hazards")).alias("hazards"),
        "current_medicines")


COHORT = Cohort(
    name="smr",
    title="Structured medication review: priority patients",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date, with no structured medication review in the "
        "last {smr_window_months} months and not on palliative care, in at least one priority subgroup: "
        "care home (a care-home resident, as in the care_home worklist); polypharmacy (≥{polypharmacy_min} "
        "distinct medicines issued in the last {current_days} days); error-prone prescribing (a PINCER hazard with "
        "issues in the last {hazard_window_months} months: aged ≥{nsaid_elderly_age} on an oral NSAID without a "
        "PPI/H2RA; oral anticoagulant with an oral NSAID; heart failure with an oral NSAID; latest eGFR "
        "<{egfr_below} with an oral NSAID; asthma with a non-selective beta-blocker); frail and vulnerable (severe "
        "frailty — a severe-frailty code or an electronic Frailty Index eFI >{efi_severe_above} — AND a "
        "housebound or isolation code, an emergency admission or a fall code in the last "
        "{vulnerable_window_months} months); addictive medicines (≥{addictive_min_issues} issues of "
        "opioids, gabapentinoids, benzodiazepines or Z-drugs in the last {addictive_window_months} months). "
        "Band = the number of subgroups met (most first); then most current medicines, then oldest. "
        "Source: Network Contract DES (SMR); PINCER; OpenSAFELY medication-reviews; CLINICAL_RULES §1."),
    defaults=DEFAULTS,
    rules=(
        Rule("no_recent_smr", "No structured medication review in the last {smr_window_months} months"),
        Rule("not_palliative", "Not on palliative care"),
        Rule("any_subgroup", "In at least one priority subgroup (care home, polypharmacy ≥{polypharmacy_min}, "
                             "error-prone prescribing, frail and vulnerable, addictive medicines)"),
    ),
    find=find,
    rank=(("current_medicines", True), ("age", True)),   # age: the worklist's own column (from patients)
    columns=("subgroups",) + SUBGROUPS + ("hazards", "current_medicines"),
)
