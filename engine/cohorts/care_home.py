"""Care-home residents: CLINICAL_RULES §2 (Enhanced Health in Care Homes).

A resident is an eligible adult whose latest residence-type code is a care-home code, or whose
current address is flagged as a care home: the ``care_home`` fact (``engine.features.facts``; the
care-home types are ``care_home_types`` in conf/facts.yaml, shared with the SMR and anticipatory
care cohorts). A later private-home code (type ``not_care_home`` in
conf/codelists/care_home_residence.csv) ends residency by code; the address flag is the current
address and stands on its own. Care-home visit / encounter codes are supporting evidence only.
No UPRN matching: the canonical record carries no UPRN, only the source's care-home flag.
Banded by whether a structured medication review (SMR) was recorded in the window, then ranked by
the electronic Frailty Index (the ``efi`` fact, §8; highest first), then emergency admissions in
the window.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F

from engine.cohorts.declaration import Band, Cohort, Criterion
from engine.config import Param
from engine.features import rows as R
from engine.features.facts import efi_text
from engine.features.rows import add_months

PARAMETERS = {
    "min_age": Param("int", 0, 120),
    "smr_window_months": Param("int", 1, 120),
    "emergency_window_months": Param("int", 1, 120),
}


def _text(col: Column) -> Column:
    return col.cast("string")


def derive(p: dict, as_of: dt.date) -> list[dict[str, Column]]:
    admissions = R.days("emergency_admission_days", add_months(as_of, -p["emergency_window_months"]))
    return [
        {"smr_date": R.last_date("ev_smr", add_months(as_of, -p["smr_window_months"])),
         "emergency_admissions": F.size(admissions),
         "emergency_admissions_last": F.array_max(admissions),
         "evidence_source": F.col("care_home_source"),
         "setting": F.when(F.col("care_home"), F.col("care_home_setting")),
         # the latest residence-type code of any type, for the evidence; the worklist column
         # residence_date is the date of the code that makes the patient a resident (null otherwise)
         "latest_residence_date": F.col("residence_date")},
        {"residence_date": F.when(F.col("resident_by_code"), F.col("latest_residence_date")),
         "last_smr_date": F.col("smr_date")},
    ]


def reason(p: dict, as_of: dt.date) -> Column:
    smr_since = add_months(as_of, -p["smr_window_months"])
    emergency_since = add_months(as_of, -p["emergency_window_months"])
    setting = F.when(F.col("setting") == "nursing", F.lit(" (nursing home)")) \
               .when(F.col("setting") == "residential", F.lit(" (residential home)")).otherwise(F.lit(""))
    code_text = F.concat(F.lit("residence code '"), F.col("residence_term"), F.lit("' on "),
                         _text(F.col("latest_residence_date")))
    evidence_text = F.concat_ws(
        "; ",
        F.when(F.col("resident_by_code"), code_text),
        F.when(F.col("address_care_home"), F.concat(
            F.lit("address flagged as a care home"),
            F.when(F.col("latest_residence_date").isNotNull() & ~F.col("resident_by_code"),
                   F.concat(F.lit(" (latest residence code '"), F.col("residence_term"), F.lit("' on "),
                            _text(F.col("latest_residence_date")), F.lit(")"))).otherwise(F.lit("")))))
    smr_text = F.when(F.col("smr_date").isNull(),
                      F.lit(f"no structured medication review since {smr_since.isoformat()}")) \
                .otherwise(F.concat(F.lit("structured medication review on "), _text(F.col("smr_date"))))
    emergency_text = F.when(F.col("emergency_admissions") == 0,
                            F.lit(f"no emergency admission since {emergency_since.isoformat()}")) \
                      .otherwise(F.concat(_text(F.col("emergency_admissions")),
                                          F.when(F.col("emergency_admissions") == 1, F.lit(" emergency admission"))
                                           .otherwise(F.lit(" emergency admissions")),
                                          F.lit(f" since {emergency_since.isoformat()} (latest "),
                                          _text(F.col("emergency_admissions_last")), F.lit(")")))
    contact_text = F.when(F.col("care_home_contact_date").isNotNull(),
                          F.concat(F.lit("; last care-home visit code "), _text(F.col("care_home_contact_date")))) \
                    .otherwise(F.lit(""))
    return F.concat(F.lit("Care-home resident"), setting, F.lit(": "), evidence_text, F.lit("; "), smr_text,
                    F.lit("; "), emergency_text, F.lit("; "), efi_text(), F.lit(", "), F.col("efi_band"),
                    contact_text, F.lit("."))


def evidence(p: dict, as_of: dt.date) -> list[Column]:
    smr_since = add_months(as_of, -p["smr_window_months"])
    emergency_since = add_months(as_of, -p["emergency_window_months"])
    return [
        F.col("care_home_source").alias("source"), F.col("setting"),
        F.col("residence_code"), F.col("residence_term"), F.col("residence_type"),
        _text(F.col("latest_residence_date")).alias("residence_date"),
        F.col("address_care_home"), F.col("care_home_contact_code"),
        _text(F.col("care_home_contact_date")).alias("care_home_contact_date"),
        _text(F.col("smr_date")).alias("last_smr_in_window"), F.lit(smr_since.isoformat()).alias("smr_window_start"),
        F.col("efi"), F.col("efi_deficits"), F.col("efi_band"), F.col("efi_deficit_list"),
        F.col("emergency_admissions"), _text(F.col("emergency_admissions_last")).alias("last_emergency_admission"),
        F.lit(emergency_since.isoformat()).alias("emergency_window_start")]


COHORT = Cohort(
    name="care_home",
    title="Care-home residents",
    section="§2",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date who live in a care home: their latest "
        "residence-type code is a care-home code (the types listed as care_home_types in conf/facts.yaml, "
        "from conf/codelists/care_home_residence.csv; a later private-home code ends it), or their current "
        "address is flagged as a care home by the source. Care-home visit codes are shown as supporting evidence "
        "but never make a resident; no UPRN matching is done (the record holds no UPRN). Band 1: no structured "
        "medication review in the last {smr_window_months} months; band 2: one in that window. Within a band, "
        "highest electronic Frailty Index (eFI: deficits present ÷ 36, Clegg 2016) first, then most emergency "
        "admissions in the last {emergency_window_months} months. Source: Enhanced Health in Care Homes; "
        "CLINICAL_RULES §2."),
    parameters=PARAMETERS,
    derive=derive,
    criteria=(
        Criterion("resident", "Care-home resident: latest residence-type code is a care-home code "
                              "({care_home_types}), or address flagged as a care home",
                  lambda p: F.col("care_home")),
    ),
    bands=(
        Band("no SMR in {smr_window_months} months", lambda p: F.col("smr_date").isNull()),
        Band("SMR in the last {smr_window_months} months"),
    ),
    reason=reason,
    evidence=evidence,
    rank=(("efi", True), ("emergency_admissions", True)),
    columns=("evidence_source", "setting", "residence_date", "last_smr_date", "efi", "efi_band",
             "emergency_admissions"),
)
