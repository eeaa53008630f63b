"""Care-home residents: CLINICAL_RULES §2 (Enhanced Health in Care Homes).

A resident is an eligible adult whose latest residence-type code is a care-home code, or whose
current address is flagged as a care home. A later private-home code (type ``not_care_home`` in
conf/codelists/care_home_residence.csv) ends residency by code; the address flag is the current
address and stands on its own. Care-home visit / encounter codes are supporting evidence only.
No UPRN matching: the canonical record carries no UPRN, only the source's care-home flag.
Banded by whether a structured medication review (SMR) was recorded in the window, then ranked by
the electronic Frailty Index (``engine.features.efi``, §8; highest first), then emergency admissions
in the window.

``residents`` and ``emergency_admissions`` are reused by the SMR cohort (§1).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from engine.cohorts.base import Cohort, Rule
from engine.features.efi import efi, efi_text
from engine.query import add_months, eligible, events_in, has_any, latest, lit_date
from engine.record import Record

DEFAULTS = {
    "min_age": 18,
    "care_home_types": ["nursing", "residential", "care_home"],
    "smr_window_months": 12,
    "emergency_window_months": 12,
}


def _text(col: Column) -> Column:
    return col.cast("string")


def residents(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    """One row per care-home resident (any age, any registration): how we know and since when.

    patient_id, care_home_source ("residence code" / "address flag" / both), setting (nursing /
    residential / unknown), residence_code, residence_term, residence_type, residence_date (the
    latest residence-type code of any type), address_care_home, care_home_contact_code,
    care_home_contact_date (latest care-home visit/encounter code: supporting evidence only).
    On a day with both a care-home and a private-home code the care-home code wins (a worklist
    errs towards review); among care-home codes nursing, then residential, then unspecified.
    """
    kinds = p["care_home_types"]
    is_care_home = F.col("type").isin(kinds)
    codes = events_in(record, "care_home_residence", as_of, extra=("term", "type"))
    last = latest(codes, F.when(is_care_home, 0).otherwise(1),
                  F.array_position(F.array(*map(F.lit, ("nursing", "residential", "care_home"))), F.col("type"))).select(
        "patient_id", F.col("code").alias("residence_code"), F.col("term").alias("residence_term"),
        F.col("type").alias("residence_type"), F.col("date").alias("residence_date"))

    contact_events = events_in(record, "care_home_encounter", as_of).select("patient_id", "date", "code", "source_id")
    contact_encounters = (record.encounters.where(F.col("start") <= lit_date(as_of))
                          .join(record.codes("care_home_encounter").select("system", "code"), ["system", "code"], "left_semi")
                          .select("patient_id", F.col("start").alias("date"), "code", "source_id"))
    contact = latest(contact_events.unionByName(contact_encounters)).select(
        "patient_id", F.col("code").alias("care_home_contact_code"), F.col("date").alias("care_home_contact_date"))

    coded = F.coalesce(F.col("residence_type").isin(kinds), F.lit(False))
    flagged = F.coalesce(F.col("address_care_home"), F.lit(False))
    return (record.patients.select("patient_id", "address_care_home")
            .join(last, "patient_id", "left")
            .where(coded | flagged)
            .join(contact, "patient_id", "left")
            .select("patient_id",
                    F.concat_ws(" and ", F.when(coded, F.lit("residence code")),
                                F.when(flagged, F.lit("address flag"))).alias("care_home_source"),
                    F.when(coded & F.col("residence_type").isin("nursing", "residential"), F.col("residence_type"))
                     .otherwise(F.lit("unknown")).alias("setting"),
                    "residence_code", "residence_term", "residence_type", "residence_date",
                    flagged.alias("address_care_home"), "care_home_contact_code", "care_home_contact_date",
                    coded.alias("resident_by_code")))


def emergency_admissions(record: Record, as_of: dt.date, since: dt.date, name: str = "emergency_admissions") -> DataFrame:
    """patient_id, <name>, <name>_last: days with an emergency admission in the window.

    An admission is an encounter with emergency = true starting in the window, or an event with
    a code in the emergency_admission list dated in the window; one day counts once, so an
    admission recorded both ways is not counted twice.
    """
    encounters = (record.encounters
                  .where(F.col("emergency") & (F.col("start") >= lit_date(since)) & (F.col("start") <= lit_date(as_of)))
                  .select("patient_id", F.col("start").alias("date")))
    coded = events_in(record, "emergency_admission", as_of, since).select("patient_id", "date")
    return (encounters.unionByName(coded).groupBy("patient_id")
            .agg(F.countDistinct("date").alias(name), F.max("date").alias(f"{name}_last")))


def find(record: Record, as_of: dt.date, p: dict) -> DataFrame:
    smr_since = add_months(as_of, -p["smr_window_months"])
    emergency_since = add_months(as_of, -p["emergency_window_months"])
    df = (eligible(record, as_of, p["min_age"]).select("patient_id")
          .join(residents(record, as_of, p), "patient_id", "left")
          .join(has_any(record, "smr", as_of, since=smr_since, name="smr"), "patient_id", "left")
          .join(emergency_admissions(record, as_of, emergency_since), "patient_id", "left")
          .join(efi(record, as_of), "patient_id", "left")
          .withColumn("emergency_admissions", F.coalesce(F.col("emergency_admissions"), F.lit(0)))
          .withColumn("resident", F.col("care_home_source").isNotNull()))

    bands = (f"no SMR in {p['smr_window_months']} months", f"SMR in the last {p['smr_window_months']} months")
    band_order = F.when(F.col("resident"), F.when(F.col("smr_date").isNull(), F.lit(1)).otherwise(F.lit(2)))
    df = (df.withColumn("band_order", band_order)
            .withColumn("band", F.element_at(F.array(*map(F.lit, bands)), F.col("band_order"))))

    setting = F.when(F.col("setting") == "nursing", F.lit(" (nursing home)")) \
               .when(F.col("setting") == "residential", F.lit(" (residential home)")).otherwise(F.lit(""))
    code_text = F.concat(F.lit("residence code '"), F.col("residence_term"), F.lit("' on "), _text(F.col("residence_date")))
    evidence_text = F.concat_ws("; ",
        F.when(F.col("resident_by_code"), code_text),
        F.when(F.col("address_care_home"), F.concat(
            F.lit("address flagged as a care home"),
            F.when(F.col("residence_date").isNotNull() & ~F.col("resident_by_code"),
                   F.concat(F.lit(" (latest residence code '"), F.col("residence_term"), F.lit("' on "),
                            _text(F.col("residence_date")), F.lit(")"))).otherwise(F.lit("")))))
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
    reason = F.concat(F.lit("Care-home resident"), setting, F.lit(": "), evidence_text, F.lit("; "), smr_text,
                      F.lit("; "), emergency_text, F.lit("; "), efi_text(), F.lit(", "), F.col("efi_band"),
                      contact_text, F.lit("."))
    evidence = F.to_json(F.struct(
        F.col("care_home_source").alias("source"), "setting",
        "residence_code", "residence_term", "residence_type", _text(F.col("residence_date")).alias("residence_date"),
        "address_care_home", "care_home_contact_code",
        _text(F.col("care_home_contact_date")).alias("care_home_contact_date"),
        _text(F.col("smr_date")).alias("last_smr_in_window"), F.lit(smr_since.isoformat()).alias("smr_window_start"),
        "efi", "efi_deficits", "efi_band", "efi_deficit_list",
        "emergency_admissions", _text(F.col("emergency_admissions_last")).alias("last_emergency_admission"),
        F.lit(emergency_since.isoformat()).alias("emergency_window_start")))

    member = F.col("band_order").isNotNull()
    return df.select(
        "patient_id", "resident", "band", "band_order",
        F.when(member, reason).alias("reason"),
        F.when(member, evidence).alias("evidence"),
        F.col("care_home_source").alias("evidence_source"), "setting",
        F.when(F.col("resident_by_code"), F.col("residence_date")).alias("residence_date"),
        F.col("smr_date").alias("last_smr_date"), "efi", "efi_band", "emergency_admissions")


COHORT = Cohort(
    name="care_home",
    title="Care-home residents",
    explanation=(
        "Adults ({min_age}+) registered and alive on the run date who live in a care home: their latest "
        "residence-type code is a care-home code (types {care_home_types} in conf/codelists/"
        "care_home_residence.csv; a later private-home code ends it), or their current address is flagged as "
        "a care home by the source. Care-home visit codes are shown as supporting evidence but never make a "
        "resident; no UPRN matching is done (the record holds no UPRN). Band 1: no structured medication "
        "review in the last {smr_window_months} months; band 2: one in that window. Within a band, highest electronic "
        "Frailty Index (eFI: deficits present ÷ 36, Clegg 2016) first, then most emergency admissions in the last "
        "{emergency_window_months} months. Source: Enhanced Health in Care Homes; "
        "CLINICAL_RULES §2."),
    defaults=DEFAULTS,
    rules=(
        Rule("resident", "Care-home resident: latest residence-type code is a care-home code "
                         "({care_home_types}), or address flagged as a care home"),
    ),
    find=find,
    rank=(("efi", True), ("emergency_admissions", True)),
    columns=("evidence_source", "setting", "residence_date", "last_smr_date", "efi", "efi_band", "emergency_admissions"),
)
