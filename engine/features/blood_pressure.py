"""Blood-pressure readings paired per day, as CLINICAL_RULES §0 defines them.

Systolic and diastolic values are paired by patient and date; when a day holds several readings the
lowest systolic and the lowest diastolic stand for that day (NICE NG136: record the lower); a day
with any home or ABPM code is a home day. Implausible values and future-dated rows never count.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from engine.query import events_in, lit_date
from engine.record import Record

PLAUSIBLE = {"systolic": (40.0, 350.0), "diastolic": (20.0, 200.0)}


def _values(record: Record, codelist: str, as_of: dt.date, since: dt.date | None, kind: str) -> DataFrame:
    low, high = PLAUSIBLE[kind]
    return (events_in(record, codelist, as_of, since)
            .where(F.col("value").between(low, high))
            .groupBy("patient_id", "date").agg(F.min("value").alias(kind)))


def paired_readings(record: Record, as_of: dt.date, since: dt.date | None = None) -> DataFrame:
    """patient_id, date, systolic, diastolic, setting ('home' or 'clinic'): one row per day with both."""
    home_days = (events_in(record, "bp_home", as_of, since)
                 .select("patient_id", "date").distinct().withColumn("home", F.lit(True)))
    return (_values(record, "bp_systolic", as_of, since, "systolic")
            .join(_values(record, "bp_diastolic", as_of, since, "diastolic"), ["patient_id", "date"])
            .join(home_days, ["patient_id", "date"], "left")
            .withColumn("setting", F.when(F.col("home"), F.lit("home")).otherwise(F.lit("clinic")))
            .drop("home"))


def latest_reading(readings: DataFrame) -> DataFrame:
    """The latest paired day per patient (at most one a day by construction)."""
    last = readings.groupBy("patient_id").agg(F.max("date").alias("date"))
    return readings.join(last, ["patient_id", "date"])


def days_before(as_of: dt.date, column: str = "date"):
    return F.datediff(lit_date(as_of), F.col(column))
