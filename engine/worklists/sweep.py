"""``casefind sweep``: one cohort evaluated for several values of one parameter, on one facts table.

For a data scientist tuning a threshold or a window: the facts are built once (windows are applied
by the rule over the facts' row arrays, so every value reads the same table) and all values are
evaluated in one Spark job. Writes, per PCN:

- ``sweep_<cohort>_<parameter>.csv``: for each value and band, how many patients are listed;
- ``sweep_<cohort>_<parameter>_changes.csv``: between each pair of neighbouring values, every patient
  who enters, leaves or changes band (patient_id, band before, band after).
"""
from __future__ import annotations

import datetime as dt
from functools import reduce
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from engine.cohorts.declaration import Cohort
from engine.cohorts.render import evaluate as render
from engine.features.facts import patient_facts
from engine.record import Record
from engine.worklists.build import pcn_folder
from engine.worklists.csv_file import write_csv

COUNT_COLUMNS = ["value", "band_order", "band", "listed"]
CHANGE_COLUMNS = ["from_value", "to_value", "patient_id", "change", "band_before", "band_after"]


def _text(value) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def sweep(record: Record, as_of: dt.date, cohort: Cohort, key: str, values: list,
          inputs: dict[str, DataFrame] | None = None) -> tuple[dict, dict]:
    """({pcn: count rows}, {pcn: change rows}) for ``values`` of parameter ``key``, in the given order."""
    facts = patient_facts(record, as_of)
    runs = [render(cohort, facts, as_of, cohort.params({key: v}), inputs).where("member")
            .select("patient_id", "pcn_id", "band", "band_order", F.lit(i).alias("_i"))
            for i, v in enumerate(values)]
    rows = reduce(DataFrame.unionByName, runs).collect()     # members only: small
    members: dict[int, dict[str, tuple]] = {i: {} for i in range(len(values))}
    pcns = set()
    for r in rows:
        members[r["_i"]][r["patient_id"]] = (r["pcn_id"], r["band"], r["band_order"])
        pcns.add(r["pcn_id"])
    counts = {p: [] for p in sorted(pcns)}
    for i, v in enumerate(values):
        tally: dict[tuple, int] = {}
        for pcn, band, order in members[i].values():
            tally[(pcn, order, band)] = tally.get((pcn, order, band), 0) + 1
        for (pcn, order, band), n in sorted(tally.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
            counts[pcn].append([_text(v), order, band, n])
    changes = {p: [] for p in sorted(pcns)}
    for i in range(1, len(values)):
        before, after = members[i - 1], members[i]
        for pid in sorted(set(before) | set(after)):
            b, a = before.get(pid), after.get(pid)
            if b is not None and a is not None and b[1] == a[1]:
                continue
            change = "enters" if b is None else "leaves" if a is None else "changes band"
            pcn = (a or b)[0]
            changes[pcn].append([_text(values[i - 1]), _text(values[i]), pid, change,
                                 b[1] if b else "", a[1] if a else ""])
    return counts, changes


def write_sweep(out: Path, cohort: str, key: str, counts: dict, changes: dict) -> dict:
    """The two CSVs per PCN; returns {pcn: (count rows, change rows)}."""
    written = {}
    for pcn in counts:
        folder = out / pcn_folder(pcn)
        write_csv(folder / f"sweep_{cohort}_{key}.csv", COUNT_COLUMNS, counts[pcn])
        write_csv(folder / f"sweep_{cohort}_{key}_changes.csv", CHANGE_COLUMNS, changes[pcn])
        written[pcn] = (len(counts[pcn]), len(changes[pcn]))
    return written
