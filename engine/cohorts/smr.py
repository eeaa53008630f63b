"""SMR priority patients: CLINICAL_RULES §1 (Network Contract DES, structured medication reviews).

Eligible adults with no structured medication review (SMR) in the window and not on palliative
care, listed when any priority subgroup holds; the row names every subgroup that holds:

- care_home: a care-home resident (the ``care_home`` fact, §2: the care_home cohort reads the same);
- polypharmacy: ≥ 10 distinct medicines currently on (``rx_issues``: an issue in the last 90 days, or a
  repeat authorisation covering the run date: CLINICAL_RULES §0);
- error_prone: any PINCER hazard with a 3-month issue window — GI_P3A (age ≥ 65, oral NSAID, no
  PPI/H2RA), GI_P3D (oral anticoagulant + oral NSAID), HF_P3I (heart-failure register + oral NSAID),
  KI_P3K (latest eGFR, any date, < 45 + oral NSAID), AS_P3G (asthma register + non-selective
  beta-blocker);
- frail_and_vulnerable: severe frailty — a severe-frailty code ever, or an electronic Frailty Index
  above ``efi_severe_above`` (the ``efi`` fact, §8) — AND any of a housebound code, an isolation
  code, an emergency admission in 12 months, a fall code in 12 months;
- addictive: ≥ 2 issues in 12 months across opioids, gabapentinoids, benzodiazepines and Z-drugs,
  counting the issues a repeat authorisation implies (§0).

Band = number of subgroups met (5 subgroups → band 1 … 1 subgroup → band 5).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F

from engine.cohorts.declaration import Band, Cohort, Criterion
from engine.config import Param
from engine.features import rows as R
from engine.features.facts import efi_text
from engine.features.rows import add_months, number_text as num

PARAMETERS = {
    "min_age": Param("int", 0, 120),
    "smr_window_months": Param("int", 1, 120),
    "current_days": Param("int", 1, 730),
    "polypharmacy_min": Param("int", 1, 100),
    "hazard_window_months": Param("int", 1, 60),
    "nsaid_elderly_age": Param("int", 0, 120),
    "egfr_below": Param("number", 0, 200),
    "efi_severe_above": Param("number", 0, 1),
    "vulnerable_window_months": Param("int", 1, 120),
    "addictive_window_months": Param("int", 1, 120),
    "addictive_min_issues": Param("int", 1, 100),
}

SUBGROUPS = ("care_home", "polypharmacy", "error_prone", "frail_and_vulnerable", "addictive")
ADDICTIVE = (("rx_opioid", "opioid"), ("rx_gabapentinoid", "gabapentinoid"),
             ("rx_benzodiazepine", "benzodiazepine"), ("rx_z_drug", "Z-drug"))


def _d(name: str) -> Column:
    return F.col(name).cast("string")


def _taken_since(rx: str, since: dt.date) -> Column:
    """The class's row taken most recently among those issued in the window from ``since`` (an issue,
    or a repeat authorisation covering any day of it: CLINICAL_RULES §0), null when none."""
    return R.last_taken(rx, since)


def _hazards(p: dict, as_of: dt.date) -> tuple[tuple[str, Column, Column], ...]:
    """(name, condition, sentence) per PINCER hazard, over the columns ``derive`` names."""
    since = add_months(as_of, -p["hazard_window_months"])
    nsaid = F.col("nsaid_last").isNotNull()
    nsaid_text = F.concat(F.lit("oral NSAID ("), F.col("nsaid_how"), F.lit(")"))
    return (
        ("GI_P3A", nsaid & (F.col("age") >= p["nsaid_elderly_age"]) & F.col("gastroprotection_last").isNull(),
         F.concat(F.lit("GI_P3A aged "), _d("age"), F.lit(" on "), nsaid_text,
                  F.lit(f" without a PPI/H2RA since {since.isoformat()}"))),
        ("GI_P3D", nsaid & F.col("anticoagulant_last").isNotNull(),
         F.concat(F.lit("GI_P3D oral anticoagulant ("), F.col("anticoagulant_how"), F.lit(") with "),
                  nsaid_text)),
        ("HF_P3I", nsaid & F.col("heart_failure_register").isNotNull(),
         F.concat(F.lit("HF_P3I heart failure (coded "), _d("heart_failure_register"), F.lit(") with "), nsaid_text)),
        ("KI_P3K", nsaid & (F.col("egfr") < p["egfr_below"]),
         F.concat(F.lit("KI_P3K latest eGFR "), num(F.col("egfr")), F.lit(" on "), _d("egfr_date"),
                  F.lit(" with "), nsaid_text)),
        ("AS_P3G", F.col("nsbb_last").isNotNull() & F.col("asthma_register").isNotNull(),
         F.concat(F.lit("AS_P3G asthma (coded "), _d("asthma_register"),
                  F.lit(") with a non-selective beta-blocker ("), F.col("nsbb_how"), F.lit(")"))),
    )


def derive(p: dict, as_of: dt.date) -> list[dict[str, Column]]:
    hazard_since = add_months(as_of, -p["hazard_window_months"])
    vulnerable_since = add_months(as_of, -p["vulnerable_window_months"])
    addictive_since = add_months(as_of, -p["addictive_window_months"])
    admissions = R.days("emergency_admission_days", vulnerable_since)
    # issues plus those a repeat authorisation implies, over the four classes (one count per prescription)
    addictive_n = R.issue_count(F.concat(*[R.rows(rx) for rx, _ in ADDICTIVE]), addictive_since)
    addictive_classes = F.array_compact(F.array(*[F.when(F.size(R.issued(rx, addictive_since)) > 0, F.lit(label))
                                                  for rx, label in ADDICTIVE]))
    hazards = _hazards(p, as_of)
    return [
        {"smr_date": R.last_date("ev_smr", add_months(as_of, -p["smr_window_months"])),
         "palliative_date": R.last_date("ev_palliative"),
         "setting": F.when(F.col("care_home"), F.col("care_home_setting")),
         "current_medicines": R.current_medicines(as_of, p["current_days"]),
         "_nsaid": _taken_since("rx_nsaid_oral", hazard_since),
         "_gastroprotection": _taken_since("rx_ppi_h2ra", hazard_since),
         "_anticoagulant": _taken_since("rx_anticoagulant_oral", hazard_since),
         "_nsbb": _taken_since("rx_beta_blocker_nonselective", hazard_since),
         "severe_frailty_date": R.last_date("ev_frailty_severe"),
         "housebound_date": R.last_date("ev_housebound"),
         "isolated_date": R.last_date("ev_isolated"),
         "fall_date": R.last_date("ev_falls", vulnerable_since),
         "emergency_admissions": F.when(F.size(admissions) > 0, F.size(admissions)),
         "emergency_admissions_last": F.array_max(admissions),
         "addictive_issues": F.when(addictive_n > 0, addictive_n),
         "addictive_classes": F.when(addictive_n > 0, F.array_join(F.array_sort(addictive_classes), ", "))},
        {**{f"{m}_last": F.col(f"_{m}.date") for m in ("nsaid", "gastroprotection", "anticoagulant", "nsbb")},
         **{f"{m}_how": R.taken_text(F.col(f"_{m}"), as_of) for m in ("nsaid", "anticoagulant", "nsbb")}},
        {"hazards": F.concat_ws(", ", *[F.when(cond, F.lit(name)) for name, cond, _ in hazards]),
         "hazard_text": F.concat_ws("; ", *[F.when(cond, text) for _, cond, text in hazards]),
         "vulnerable_text": F.concat_ws(
             "; ",
             F.when(F.col("housebound_date").isNotNull(),
                    F.concat(F.lit("housebound (coded "), _d("housebound_date"), F.lit(")"))),
             F.when(F.col("isolated_date").isNotNull(),
                    F.concat(F.lit("isolated (coded "), _d("isolated_date"), F.lit(")"))),
             F.when(F.col("emergency_admissions").isNotNull(), F.concat(
                 _d("emergency_admissions"),
                 F.lit(f" emergency admission(s) since {vulnerable_since.isoformat()}, latest "),
                 _d("emergency_admissions_last"))),
             F.when(F.col("fall_date").isNotNull(), F.concat(F.lit("fall coded "), _d("fall_date")))),
         "efi_severe": F.coalesce(F.col("efi") > p["efi_severe_above"], F.lit(False))},
        # care_home is the fact itself (a resident by code or address flag)
        {"polypharmacy": F.col("current_medicines") >= p["polypharmacy_min"],
         "error_prone": F.col("hazards") != "",
         "severe_frailty": F.col("severe_frailty_date").isNotNull() | F.col("efi_severe"),
         "addictive": F.coalesce(F.col("addictive_issues"), F.lit(0)) >= p["addictive_min_issues"]},
        {"frail_and_vulnerable": F.col("severe_frailty") & (F.col("vulnerable_text") != ""),
         "hazards": F.when(F.col("hazards") != "", F.col("hazards"))},
        {"n_subgroups": sum(F.col(s).cast("int") for s in SUBGROUPS),
         "subgroups": F.concat_ws(", ", *[F.when(F.col(s), F.lit(s)) for s in SUBGROUPS])},
    ]


def reason(p: dict, as_of: dt.date) -> Column:
    smr_since = add_months(as_of, -p["smr_window_months"])
    current_since = as_of - dt.timedelta(days=p["current_days"])
    addictive_since = add_months(as_of, -p["addictive_window_months"])
    parts = F.concat_ws(
        "; ",
        F.when(F.col("care_home"), F.concat(
            F.lit("care home ("), F.col("care_home_source"),
            F.when(F.col("setting") != "unknown", F.concat(F.lit(", "), F.col("setting"))).otherwise(F.lit("")),
            F.lit(")"))),
        F.when(F.col("polypharmacy"), F.concat(F.lit("polypharmacy ("), _d("current_medicines"),
                                               F.lit(f" current medicines: issued since {current_since.isoformat()} "
                                                     "or on a repeat authorisation still active)"))),
        F.when(F.col("error_prone"), F.concat(F.lit("error-prone prescribing ("), F.col("hazard_text"), F.lit(")"))),
        F.when(F.col("frail_and_vulnerable"), F.concat(
            F.lit("frail and vulnerable ("),
            F.concat_ws(" and ",
                        F.when(F.col("severe_frailty_date").isNotNull(),
                               F.concat(F.lit("severe frailty coded "), _d("severe_frailty_date"))),
                        F.when(F.col("efi_severe"), efi_text("severe frailty by "))),
            F.lit("; "), F.col("vulnerable_text"), F.lit(")"))),
        F.when(F.col("addictive"), F.concat(F.lit("addictive medicines ("), _d("addictive_issues"),
                                            F.lit(f" issues since {addictive_since.isoformat()}: "),
                                            F.col("addictive_classes"), F.lit(")"))))
    return F.concat(F.col("band"), F.lit(": "), parts,
                    F.lit(f"; no structured medication review since {smr_since.isoformat()}."))


def evidence(p: dict, as_of: dt.date) -> list[Column]:
    smr_since = add_months(as_of, -p["smr_window_months"])
    # The hazard inputs (heart failure, asthma, eGFR) are shown for patients issued any of the four
    # hazard medicine classes in the window, as the worklist always has.
    prescribed = F.coalesce("nsaid_last", "gastroprotection_last", "anticoagulant_last", "nsbb_last").isNotNull()
    return [
        F.col("subgroups"), F.col("care_home_source"), F.col("setting"), F.col("current_medicines"),
        F.col("hazards"),
        _d("nsaid_last").alias("nsaid_last_issued"), _d("gastroprotection_last").alias("ppi_h2ra_last_issued"),
        _d("anticoagulant_last").alias("anticoagulant_last_issued"), _d("nsbb_last").alias("nsbb_last_issued"),
        *[F.when(prescribed, col).alias(name) for col, name in (
            (_d("heart_failure_register"), "heart_failure_coded"), (_d("asthma_register"), "asthma_coded"),
            (F.col("egfr"), "egfr"), (_d("egfr_date"), "egfr_date"))],
        _d("severe_frailty_date").alias("severe_frailty_coded"), F.col("efi"), F.col("efi_deficits"),
        _d("housebound_date").alias("housebound_coded"),
        _d("isolated_date").alias("isolated_coded"), _d("fall_date").alias("fall_coded"),
        F.col("emergency_admissions"), _d("emergency_admissions_last").alias("last_emergency_admission"),
        F.col("addictive_issues"), F.col("addictive_classes"), F.col("age"),
        F.lit(smr_since.isoformat()).alias("smr_window_start")]


def _subgroups(n: int):
    return lambda p: F.col("n_subgroups") == n


COHORT = Cohort(
    name="smr",
    title="Structured medication review: priority patients",
    section="§1",
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
    parameters=PARAMETERS,
    derive=derive,
    criteria=(
        Criterion("no_recent_smr", "No structured medication review in the last {smr_window_months} months",
                  lambda p: F.col("smr_date").isNull()),
        Criterion("not_palliative", "Not on palliative care", lambda p: F.col("palliative_date").isNull()),
        Criterion("any_subgroup", "In at least one priority subgroup (care home, polypharmacy ≥{polypharmacy_min}, "
                                  "error-prone prescribing, frail and vulnerable, addictive medicines)",
                  lambda p: F.col("n_subgroups") > 0),
    ),
    bands=(
        Band("5 subgroups", _subgroups(5)),
        Band("4 subgroups", _subgroups(4)),
        Band("3 subgroups", _subgroups(3)),
        Band("2 subgroups", _subgroups(2)),
        Band("1 subgroup", _subgroups(1)),
    ),
    reason=reason,
    evidence=evidence,
    rank=(("current_medicines", True), ("age", True)),   # age: the worklist's own column (from patients)
    columns=("subgroups",) + SUBGROUPS + ("hazards", "current_medicines"),
)
