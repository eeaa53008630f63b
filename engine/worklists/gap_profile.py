"""CLINICAL_RULES §9, gap profile: per PCN, each case-finding cohort's rate per 1,000 eligible adults
by IMD quintile and by ethnic group, with the largest gap named — the "identify a population" step.

Denominator: eligible adults (the cohorts' population, ``min_age``, from the patient facts) counted per PCN × quintile and
PCN × ethnic group by a Spark aggregation over the record; only the counts reach the driver.
Numerator: the cohort's worklist members in the same cell (members are eligible by construction).

Groups: IMD quintile = ceil(decile / 2), 1 = most deprived, "unknown" where the decile is missing;
ethnic group = the ONS 5 groups (White, Mixed, Asian, Black, Other) and "Unknown" (no code, or only
"not stated"). Every group is always shown, so the file has the same shape for every PCN.

Disclosure control (the file may leave the PCN): a count below ``suppress_below`` (8) — zero
included — is shown as "<8" and its rate left blank; every other count is rounded to the nearest
``round_to`` (5). The rate is computed from the ROUNDED counts (listed ÷ eligible × 1,000, one
decimal), so no exact count can be recovered from a rate; it is blank when either count is
suppressed.

Largest gap: among the groups with a disclosed rate, excluding unknown, the highest rate over the
lowest (rate ratio), e.g. "IMD quintile 1 vs 5: 42.0 vs 18.5 per 1,000 (2.3×)". Fewer than two such
groups: no gap is named, and the sentence says why.
"""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F

from engine.cohorts.render import population
from engine.features.facts import patient_facts
from engine.record import Record
from engine.worklists.build import pcn_folder
from engine.worklists.csv_file import write_csv
from engine.worklists.inequalities import case_finding_results, load_params

IMD, ETHNIC = "IMD quintile", "ethnic group"
QUINTILES = ["1", "2", "3", "4", "5", "unknown"]
ETHNIC_GROUPS = ["White", "Mixed", "Asian", "Black", "Other", "Unknown"]
UNKNOWN = ("unknown", "Unknown")
COLUMNS = ["pcn_id", "cohort", "dimension", "group", "eligible", "listed", "rate_per_1000", "gap_role",
           "largest_gap"]


def quintile(decile) -> str:
    """IMD decile (1 = most deprived) → quintile label "1".."5", or "unknown"."""
    if decile is None or pd.isna(decile) or not 1 <= int(decile) <= 10:
        return "unknown"
    return str(math.ceil(int(decile) / 2))


def ethnic_group(group) -> str:
    return group if isinstance(group, str) and group in ETHNIC_GROUPS[:-1] else "Unknown"


def disclose(n: int, suppress_below: int, round_to: int) -> tuple[str, int | None]:
    """(text shown, rounded value) — ("<8", None) when suppressed; halves round up."""
    if n < suppress_below:
        return f"<{suppress_below}", None
    value = int(math.floor(n / round_to + 0.5)) * round_to
    return str(value), value


def rate(listed: int | None, eligible_: int | None) -> float | None:
    if listed is None or not eligible_:
        return None
    return round(listed / eligible_ * 1000, 1)


def _eligible_counts(record: Record, as_of: dt.date, min_age: int) -> dict[tuple[str, str, str], int]:
    """{(pcn, dimension, group): eligible adults} from one Spark aggregation (counts only)."""
    decile = F.col("imd_decile")
    people = population(patient_facts(record, as_of), {"min_age": min_age}) \
        .select("pcn_id",
                F.when(decile.between(1, 10), F.ceil(decile / 2).cast("string")).otherwise(F.lit("unknown")).alias(IMD),
                F.when(F.col("ethnicity_group").isin(*ETHNIC_GROUPS[:-1]), F.col("ethnicity_group"))
                 .otherwise(F.lit("Unknown")).alias(ETHNIC))
    counts: dict[tuple[str, str, str], int] = {}
    for r in people.groupBy("pcn_id", IMD, ETHNIC).count().collect():      # pcn × 6 × 6 rows at most
        for dim in (IMD, ETHNIC):
            key = (r["pcn_id"], dim, r[dim])
            counts[key] = counts.get(key, 0) + r["count"]
    return counts


def _largest_gap(dim: str, rows: list[dict]) -> tuple[str, str | None, str | None]:
    """(sentence, high group, low group)."""
    known = [r for r in rows if r["group"] not in UNKNOWN and r["rate_per_1000"] is not None]
    if len(known) < 2:
        return (f"none named: fewer than two {dim}s have a rate that can be shown", None, None)
    high = max(known, key=lambda r: r["rate_per_1000"])               # first of equals: lowest label
    low = min(reversed(known), key=lambda r: r["rate_per_1000"])      # last of equals
    h, lo = high["rate_per_1000"], low["rate_per_1000"]
    ratio = f" ({h / lo:.1f}×)" if lo > 0 else ""
    return (f"{dim} {high['group']} vs {low['group']}: {h:.1f} vs {lo:.1f} per 1,000{ratio}",
            high["group"], low["group"])


def gap_profile(results, record: Record, as_of: dt.date, params: dict | None = None) -> pd.DataFrame:
    """One row per PCN × cohort × dimension × group (COLUMNS); counts disclosed as text."""
    p = load_params(params)
    supp, rnd = p["suppress_below"], p["round_to"]
    denominators = _eligible_counts(record, as_of, p["min_age"])
    chosen = case_finding_results(results, p)
    pcns = sorted({k[0] for k in denominators} |
                  {pcn for r in chosen for pcn in r.worklist.get("pcn_id", pd.Series(dtype=str)).unique()})
    out = []
    for result in chosen:
        wl = result.worklist
        numerators: dict[tuple[str, str, str], int] = {}
        for rec in wl[["pcn_id", "imd_decile", "ethnicity_group"]].to_dict("records") if len(wl) else []:
            for dim, group in ((IMD, quintile(rec["imd_decile"])), (ETHNIC, ethnic_group(rec["ethnicity_group"]))):
                key = (rec["pcn_id"], dim, group)
                numerators[key] = numerators.get(key, 0) + 1
        for pcn in pcns:
            for dim, groups in ((IMD, QUINTILES), (ETHNIC, ETHNIC_GROUPS)):
                block = []
                for g in groups:
                    e_text, e_val = disclose(denominators.get((pcn, dim, g), 0), supp, rnd)
                    n_text, n_val = disclose(numerators.get((pcn, dim, g), 0), supp, rnd)
                    block.append({"pcn_id": pcn, "cohort": result.cohort.name, "dimension": dim, "group": g,
                                  "eligible": e_text, "listed": n_text, "rate_per_1000": rate(n_val, e_val)})
                sentence, high, low = _largest_gap(dim, block)
                for row in block:
                    row["gap_role"] = "highest" if row["group"] == high else "lowest" if row["group"] == low else ""
                    row["largest_gap"] = sentence
                out.extend(block)
    return pd.DataFrame(out, columns=COLUMNS)


def largest_gaps(profile: pd.DataFrame) -> pd.DataFrame:
    """One sentence per PCN × cohort × dimension (for the summary page)."""
    return (profile[["pcn_id", "cohort", "dimension", "largest_gap"]]
            .drop_duplicates(["pcn_id", "cohort", "dimension"]).reset_index(drop=True))


def write_gap_profile(profile: pd.DataFrame, out: Path, pcns: list[str]) -> dict[str, int]:
    """<out>/<pcn>/gap_profile.csv for every PCN (the folder names the PCN, so the column is dropped)."""
    columns = [c for c in COLUMNS if c != "pcn_id"]
    counts = {}
    for pcn in pcns:
        rows = [[rec[c] for c in columns] for rec in profile[profile["pcn_id"] == pcn].to_dict("records")]
        counts[pcn] = write_csv(out / pcn_folder(pcn) / "gap_profile.csv", columns, rows)
    return counts
