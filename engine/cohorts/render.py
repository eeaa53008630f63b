"""The one renderer: any cohort declaration + the facts table → the evaluated population.

Returns one row per patient in the cohort's population with a boolean column per criterion, ``member``
(every criterion holds), and, for members, ``band``, ``band_order``, ``reason`` and ``evidence`` (JSON),
plus the cohort's own columns. The worklist (members, ranked) and the attrition (how many pass each
criterion in turn) are both read from this one table (``engine.worklists.build``).
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from engine.cohorts.declaration import Cohort


def population(facts: DataFrame, p: dict) -> DataFrame:
    """CLINICAL_RULES §0: registered and alive on the run date, at least ``min_age``."""
    return facts.where(F.col("alive_registered") & (F.col("age") >= p["min_age"]))


def evaluate(cohort: Cohort, facts: DataFrame, as_of: dt.date, params: dict,
             inputs: dict[str, DataFrame] | None = None) -> DataFrame:
    df = population(facts, params)
    for name in cohort.inputs:
        df = df.join((inputs or {})[name], "patient_id", "left")
    for stage in cohort.derive(params, as_of):
        df = df.withColumns(stage)
    flags = {c.name: F.coalesce(c.holds(params), F.lit(False)) for c in cohort.criteria}
    df = df.withColumns(flags)
    member: Column = F.lit(True)
    for name in flags:
        member = member & F.col(name)
    df = df.withColumn("member", member)

    order, label = None, None
    for band, n, text in zip(cohort.bands, cohort.band_orders(), cohort.band_labels(params)):
        holds = F.col("member") & (band.holds(params) if band.holds is not None else F.lit(True))
        order = F.when(holds, F.lit(n)) if order is None else order.when(holds, F.lit(n))
        label = F.when(holds, F.lit(text)) if label is None else label.when(holds, F.lit(text))
    df = df.withColumns({"band_order": order, "band": label})
    listed = F.col("band_order").isNotNull()
    df = df.withColumns({"reason": F.when(listed, cohort.reason(params, as_of)),
                         "evidence": F.when(listed, F.to_json(F.struct(*cohort.evidence(params, as_of))))})
    # A worklist column is a column name, or (name shown, column it shows).
    out = {c: F.col(c) for c in ("patient_id", "practice_id", "pcn_id", *flags, "member", "band", "band_order", "reason", "evidence")}
    for c in cohort.columns:
        name, source = c if isinstance(c, tuple) else (c, c)
        out[name] = F.col(source).alias(name)
    for c, _ in cohort.rank:
        out.setdefault(c, F.col(c))
    return df.select(*out.values())
