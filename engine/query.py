"""The few primitives every cohort rule is written with.

Each takes the record and the run's ``as_of`` and returns a small per-patient table, so a cohort
reads like its clinical rule: "latest value in a codelist", "on a register", "any code within a
window". Rows whose status is refuted or entered-in-error never count; nothing dated after
``as_of`` counts.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from engine.record import Record


def lit_date(day: dt.date) -> Column:
    return F.lit(day.isoformat()).cast("date")


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar arithmetic for window starts (31 March − 1 month → 28/29 February)."""
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def events_in(record: Record, codelist: str, as_of: dt.date, since: dt.date | None = None,
              status: str = "active", extra: tuple[str, ...] = ()) -> DataFrame:
    """Events whose (system, code) is in the codelist, dated ``since`` ≤ date ≤ ``as_of``.

    ``extra`` names codelist columns to carry along (e.g. a BP code's setting).
    """
    cond = (F.col("date") <= lit_date(as_of)) & (F.col("status") == status)
    if since is not None:
        cond &= F.col("date") >= lit_date(since)
    codes = record.codes(codelist).select("system", "code", *extra)
    return record.events.where(cond).join(codes, ["system", "code"], "left_semi" if not extra else "inner")


def latest(df: DataFrame, *tiebreak: Column) -> DataFrame:
    """One row per patient: the latest by date (ties broken by ``tiebreak``, then source_id)."""
    order = [F.col("date").desc(), *tiebreak, F.col("source_id").asc(), F.col("code").asc()]
    w = Window.partitionBy("patient_id").orderBy(*order)
    return df.withColumn("_n", F.row_number().over(w)).where("_n = 1").drop("_n")


def latest_value(record: Record, codelist: str, as_of: dt.date, since: dt.date | None = None,
                 name: str = "value") -> DataFrame:
    """patient_id, <name>, <name>_date: the latest numeric value recorded with a code in the list."""
    rows = events_in(record, codelist, as_of, since).where(F.col("value").isNotNull())
    return latest(rows, F.col("value").desc()).select(
        "patient_id", F.col("value").alias(name), F.col("date").alias(f"{name}_date"))


def has_any(record: Record, codelist: str, as_of: dt.date, since: dt.date | None = None,
            name: str = "flag") -> DataFrame:
    """patient_id, <name>_date: the latest code in the list within the window, for patients with one."""
    rows = events_in(record, codelist, as_of, since)
    return rows.groupBy("patient_id").agg(F.max("date").alias(f"{name}_date"))


def on_register(record: Record, diagnosis: str, as_of: dt.date, resolved: str | None = None,
                name: str = "register") -> DataFrame:
    """Patients whose latest diagnosis code has no resolution on or after it.

    A resolution is a code in the ``resolved`` list, or the resolved row of a diagnosis Condition
    (engine/schema.py). A resolution on the same day as the diagnosis wins: a condition recorded as
    already resolved is not active. Returns patient_id, <name>_date (latest diagnosis) for
    patients on the register.
    """
    diagnosed = events_in(record, diagnosis, as_of).groupBy("patient_id").agg(F.max("date").alias("dx"))
    resolutions = events_in(record, diagnosis, as_of, status="resolved").select("patient_id", "date")
    if resolved:
        resolutions = resolutions.unionByName(events_in(record, resolved, as_of).select("patient_id", "date"))
    last_res = resolutions.groupBy("patient_id").agg(F.max("date").alias("res"))
    return (diagnosed.join(last_res, "patient_id", "left")
            .where(F.col("res").isNull() | (F.col("res") < F.col("dx")))
            .select("patient_id", F.col("dx").alias(f"{name}_date")))


def age_on(birth: Column, day: Column) -> Column:
    """Whole years completed on ``day`` (a column): the birthday itself counts; someone born on
    29 February has their birthday on 1 March in other years."""
    before_birthday = (F.month(day) < F.month(birth)) | \
        ((F.month(day) == F.month(birth)) & (F.dayofmonth(day) < F.dayofmonth(birth)))
    return (F.year(day) - F.year(birth) - F.when(before_birthday, 1).otherwise(0)).cast("int")


def age_at(birth_date: Column, as_of: dt.date) -> Column:
    """Whole years completed on ``as_of``."""
    return age_on(birth_date, lit_date(as_of))


def eligible(record: Record, as_of: dt.date, min_age: int = 18) -> DataFrame:
    """Registered and alive on ``as_of`` and at least ``min_age``: CLINICAL_RULES §0.

    A source with no registration data counts every patient as registered.
    """
    p = record.patients.withColumn("age", age_at(F.col("birth_date"), as_of))
    d = lit_date(as_of)
    registered = (F.col("registration_start").isNull() | (F.col("registration_start") <= d)) & \
                 (F.col("registration_end").isNull() | (F.col("registration_end") > d))
    alive = F.when(F.col("death_date").isNotNull(), F.col("death_date") > d) \
             .otherwise(~F.coalesce(F.col("deceased"), F.lit(False)))
    return p.where(registered & alive & (F.col("age") >= min_age))


# Medication issues that never reached the patient do not count.
NOT_ISSUED = ("entered-in-error", "cancelled", "draft")


def issues_in(record: Record, codelist: str, as_of: dt.date, since: dt.date | None = None,
              extra: tuple[str, ...] = ()) -> DataFrame:
    """Medication issues whose (system, code) is in the codelist, dated ``since`` ≤ date ≤ ``as_of``."""
    cond = (F.col("date") <= lit_date(as_of)) & ~F.coalesce(F.col("status"), F.lit("")).isin(*NOT_ISSUED)
    if since is not None:
        cond &= F.col("date") >= lit_date(since)
    codes = record.codes(codelist).select("system", "code", *extra)
    return record.medications.where(cond).join(codes, ["system", "code"], "left_semi" if not extra else "inner")


def issue_count(record: Record, codelist: str, as_of: dt.date, since: dt.date | None = None,
                name: str = "issues") -> DataFrame:
    """patient_id, <name> (distinct issues: one prescription coded twice counts once), <name>_last."""
    rows = issues_in(record, codelist, as_of, since)
    return rows.groupBy("patient_id").agg(F.countDistinct("source_id").alias(name),
                                          F.max("date").alias(f"{name}_last"))


# Referrals that never went out do not count.
REFERRAL_NOT_MADE = ("entered-in-error", "revoked", "draft", "cancelled")


def referrals_in(record: Record, codelist: str, as_of: dt.date, since: dt.date | None = None,
                 extra: tuple[str, ...] = ()) -> DataFrame:
    """Referrals whose code is in the codelist, dated ``since`` ≤ date ≤ ``as_of``, that were made
    (not cancelled, revoked, draft or entered in error)."""
    cond = (F.col("date") <= lit_date(as_of)) & \
        ~F.lower(F.coalesce(F.col("status"), F.lit(""))).isin(*REFERRAL_NOT_MADE)
    if since is not None:
        cond &= F.col("date") >= lit_date(since)
    codes = record.codes(codelist).select("system", "code", *extra)
    return record.referrals.where(cond).join(codes, ["system", "code"], "left_semi" if not extra else "inner")


def current_medicines(record: Record, as_of: dt.date, days: int = 90, name: str = "current_medicines") -> DataFrame:
    """patient_id, <name>: distinct medicines issued in the last ``days`` days (CLINICAL_RULES §0/§1).

    A medicine is a (system, code); an issue coded twice (dm+d and RxNorm on one request) counts
    once, as its smallest (system, code), so dual coding never inflates the count.
    """
    since = as_of - dt.timedelta(days=days)
    cond = (F.col("date") <= lit_date(as_of)) & (F.col("date") >= lit_date(since)) & \
        ~F.coalesce(F.col("status"), F.lit("")).isin(*NOT_ISSUED)
    per_issue = (record.medications.where(cond).groupBy("patient_id", "source_id")
                 .agg(F.min(F.struct("system", "code")).alias("medicine")))
    return per_issue.groupBy("patient_id").agg(F.countDistinct("medicine").alias(name))
