"""From a cohort's evaluated population to ranked per-PCN worklists and attrition counts.

Ranking is per PCN: band first (1 = most urgent), then the cohort's own keys, then patient_id so
ties always break the same way and the same inputs give byte-identical files.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from engine.cohorts.declaration import Cohort
from engine.cohorts.render import evaluate as render
from engine.features.facts import patient_facts
from engine.features.rows import age_on, lit_date
from engine.record import Record
from engine.worklists.csv_file import nhs_number, write_csv

UNASSIGNED = "UNASSIGNED"
IDENTIFIABLE_COLUMNS = ("nhs_number", "name", "birth_date")
LEADING = ("rank", "patient_id", "nhs_number", "name", "birth_date", "age", "sex", "practice_id", "pcn_id",
           "band", "reason")
TRAILING = ("ethnicity_group", "imd_decile")


# Folder names the engine writes itself beside the PCN folders; a PCN id never takes one of them.
RESERVED_FOLDERS = frozenset({"canonical", "quarantine", "model", "manifest.json", UNASSIGNED.lower()})
# ODS codes (PCNs are 'U' + 5 digits, practices a letter + 5 digits): upper-case letters and digits.
_ODS_CODE = re.compile(r"[A-Z0-9]{3,10}")


def pcn_folder(pcn_id: str | None) -> str:
    """The folder for a PCN's outputs: the id itself when it is an ODS-style code, otherwise ``_``
    plus a hash of the id, so that data can never name a path ('..', 'a/b'), an engine folder
    ('canonical') or two ids the same folder ('U 00001' and 'U/00001')."""
    if pcn_id is None or pcn_id == UNASSIGNED:
        return UNASSIGNED
    # fullmatch: "$" would also match before a trailing newline ("U00001\n" kept as a folder name)
    if _ODS_CODE.fullmatch(pcn_id) and pcn_id.lower() not in RESERVED_FOLDERS:
        return pcn_id
    return "_" + hashlib.sha256(pcn_id.encode("utf-8")).hexdigest()[:12]


@dataclass
class CohortResult:
    cohort: Cohort
    worklist: "object"           # pandas DataFrame of members, ranked within PCN
    attrition: list[dict]        # one row per (pcn, step)
    params: dict | None = None


def evaluate(cohort: Cohort, record: Record, as_of: dt.date, overrides: dict | None = None,
             inputs: dict[str, DataFrame] | None = None) -> CohortResult:
    params = cohort.params(overrides)
    evaluated = render(cohort, patient_facts(record, as_of), as_of, params, inputs).cache()
    try:
        attrition = _attrition(cohort, evaluated, cohort.rule_labels(params))
        worklist = _ranked_members(cohort, record, evaluated, as_of)
    finally:
        evaluated.unpersist()
    return CohortResult(cohort, worklist, attrition, params)


def _attrition(cohort: Cohort, evaluated: DataFrame, labels: list[str]) -> list[dict]:
    """How many eligible patients pass each criterion in turn, per PCN: one aggregation."""
    passed, aggs = F.lit(True), [F.count("*").alias("eligible")]
    for c in cohort.criteria:
        passed = passed & F.col(c.name)
        aggs.append(F.sum(passed.cast("int")).alias(c.name))
    rows = sorted(evaluated.groupBy("pcn_id").agg(*aggs).collect(), key=lambda r: r["pcn_id"])
    out = []
    for r in rows:
        out.append({"pcn_id": r["pcn_id"], "cohort": cohort.name, "step": 0, "rule": "eligible",
                    "description": "Registered and alive on the run date, meeting the cohort's age rule",
                    "patients": r["eligible"]})
        for i, (c, label) in enumerate(zip(cohort.criteria, labels), 1):
            out.append({"pcn_id": r["pcn_id"], "cohort": cohort.name, "step": i, "rule": c.name,
                        "description": label, "patients": r[c.name] or 0})
    return out


def _ranked_members(cohort: Cohort, record: Record, evaluated: DataFrame, as_of: dt.date):
    """The members, ranked per PCN: band order, then the cohort's keys (nulls last), then patient_id.
    Members are a small table: they are joined to their person columns (a broadcast of the members)
    and collected once, then ranked here, so a worklist costs no shuffle."""
    people = record.patients.select(
        "patient_id", "nhs_number", "given_name", "family_name", "birth_date", "sex",
        "ethnicity_group", "imd_decile", age_on(F.col("birth_date"), lit_date(as_of)).alias("age"))
    # The worklist's person columns come from patients; a cohort's own copy (e.g. age) gives way.
    clash = [c for c in people.columns if c != "patient_id" and c in evaluated.columns]
    members = (people.join(F.broadcast(evaluated.where("member").drop(*clash)), "patient_id")
               .withColumn("name", F.concat_ws(", ", F.upper(F.col("family_name")), F.col("given_name"))))
    rule_cols = [c.name for c in cohort.criteria]
    own = [c[0] if isinstance(c, tuple) else c for c in cohort.columns]
    columns = list(dict.fromkeys([*LEADING, *own, *TRAILING, *rule_cols, "evidence"]))
    keys = list(dict.fromkeys(["band_order", *[c for c, _ in cohort.rank]]))
    pdf = members.select(*[c for c in dict.fromkeys([*columns, *keys]) if c != "rank"]).toPandas()
    # Spark's order, in pandas: ascending or descending per key, nulls last for every key.
    by = ["pcn_id", "band_order", *[c for c, _ in cohort.rank], "patient_id"]
    ascending = [True, True, *[not desc for _, desc in cohort.rank], True]
    pdf = pdf.sort_values(by, ascending=ascending, na_position="last", kind="mergesort").reset_index(drop=True)
    pdf["rank"] = pdf.groupby("pcn_id").cumcount() + 1
    return pdf[columns]


def person_rows(df, columns: list[str], pseudonymiser=None) -> list[list]:
    """Rows of a worklist frame ready for the CSV: NHS numbers spaced, patient ids pseudonymised
    when a pseudonymiser is given (the identifying columns are then already left out of ``columns``)."""
    rows = []
    for rec in df.to_dict("records"):
        if "nhs_number" in rec:
            rec["nhs_number"] = nhs_number(rec.get("nhs_number"))
        if pseudonymiser is not None:
            rec["patient_id"] = pseudonymiser.patient_id(rec.get("patient_id"))
        rows.append([rec[c] for c in columns])
    return rows


def output_columns(columns, pseudonymiser=None) -> list[str]:
    return [c for c in columns if not (pseudonymiser is not None and c in IDENTIFIABLE_COLUMNS)]


def write_worklists(result: CohortResult, out: Path, pcns: list[str], pseudonymiser=None) -> dict[str, int]:
    """<out>/<pcn>/<cohort>.csv for every PCN (header only where nobody is listed)."""
    df = result.worklist
    columns = output_columns(df.columns, pseudonymiser)
    counts = {}
    for pcn in pcns:
        rows = person_rows(df[df["pcn_id"] == pcn], columns, pseudonymiser)
        counts[pcn] = write_csv(out / pcn_folder(pcn) / f"{result.cohort.name}.csv", columns, rows)
    return counts


def write_attrition(results: list[CohortResult], out: Path, pcns: list[str]) -> None:
    header = ["cohort", "step", "rule", "description", "patients"]
    for pcn in pcns:
        rows = [[a[h] for h in header] for r in results for a in r.attrition if a["pcn_id"] == pcn]
        write_csv(out / pcn_folder(pcn) / "attrition.csv", header, rows)
