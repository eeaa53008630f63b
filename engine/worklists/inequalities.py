"""CLINICAL_RULES §9, inequalities worklist: Core20PLUS patients with an open case-finding need.

Who is listed: a member of any case-finding cohort (§3–§7, ``cohorts`` in conf/inequalities.yaml) who is
Core20 (IMD decile in ``core20_deciles``, 1 = most deprived) or PLUS (ethnic group in
``plus_ethnic_groups`` — every ONS group other than White by default — or on a ``plus_registers``
register: learning disability, severe mental illness).

Clinical priority: each (cohort, band) has a score in ``clinical_priority`` (higher = act sooner;
urgent bands flagged in ``urgent_bands`` and scored above every other band). A patient's clinical
priority is the highest score among their open needs; that need is their ``band``.

Equity priority = clinical priority × (1 + w_core20 × Core20) × (1 + w_plus × PLUS), capped at the next
higher clinical-priority score in the table minus ``cap_margin``. The cap means weighting only
reorders patients who share a clinical priority: a weighted patient never reaches the next band, so
a non-urgent need never outranks an urgent one. Ranking per PCN: equity priority (desc), clinical
priority (desc), the uncapped weighting (desc: capped patients of one band keep their equity order),
the need's rank in its own worklist (asc), patient_id.

The worklists arrive already collected (one small table per cohort, engine.worklists.build); the
only Spark work here is the register check, a semi-join of the listed patients' ids against the
registers, so no other patient data reaches the driver.
"""
from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F

from engine.config import ConfigError, conf_dir, read_yaml
from engine.features.facts import REGISTERS, patient_facts
from engine.record import Record
from engine.worklists.build import LEADING, output_columns, pcn_folder, person_rows
from engine.worklists.csv_file import write_csv

CONF_FILE = "inequalities.yaml"
CASE_FINDING = ["hypertension", "af_undiagnosed", "af_anticoagulation", "fh", "heart_failure",
                "cancer_safety_netting"]

DEFAULTS = {
    "cohorts": list(CASE_FINDING),
    "min_age": 18,
    "suppress_below": 8,
    "round_to": 5,
    "core20_deciles": [1, 2],
    "plus_ethnic_groups": ["Mixed", "Asian", "Black", "Other"],
    "plus_registers": ["learning_disability", "severe_mental_illness"],
    "w_core20": 0.25,
    "w_plus": 0.25,
    "cap_margin": 0.01,
    "clinical_priority": {
        "hypertension": {"severe": 100, "stage 2": 80, "stage 1 with risk factor": 60, "stage 1": 40},
        "af_undiagnosed": {"ECG AF or flutter": 80, "device-detected AF": 60, "irregular pulse": 50,
                           "anticoagulant without recorded indication": 40},
        "af_anticoagulation": {"not anticoagulated": 80},
        "fh": {"refer for genetic testing": 60, "assess": 40},
        "heart_failure": {"urgent — specialist and echo within 2 weeks": 100,
                          "specialist and echo within 6 weeks": 80,
                          "loop diuretic without heart failure diagnosis": 40},
        "cancer_safety_netting": {"referral without outcome": 100, "FIT positive not referred": 100,
                                  "raised PSA not referred": 100, "raised platelets not actioned": 100},
    },
    "urgent_bands": {
        "hypertension": ["severe"],
        "heart_failure": ["urgent — specialist and echo within 2 weeks"],
        "cancer_safety_netting": ["referral without outcome", "FIT positive not referred",
                                  "raised PSA not referred", "raised platelets not actioned"],
    },
}

REGISTER_LABELS = {"learning_disability": "learning disability register",
                   "severe_mental_illness": "severe mental illness register"}

COLUMNS = [*LEADING, "needs", "core20", "plus_reasons", "clinical_priority", "equity_priority",
           "imd_decile", "ethnicity_group"]


# --- parameters --------------------------------------------------------------------------------------
def load_params(overrides: dict | None = None) -> dict:
    """DEFAULTS, then conf/inequalities.yaml, then ``overrides``; unknown keys and bad types are errors."""
    params = copy.deepcopy(DEFAULTS)
    for source, values in ((f"conf/{CONF_FILE}", read_yaml(conf_dir() / CONF_FILE)), ("overrides", overrides or {})):
        for key, value in values.items():
            if key not in DEFAULTS:
                raise ConfigError(f"{source}: unknown parameter '{key}' for inequalities "
                                  f"(known: {', '.join(sorted(DEFAULTS))})")
            params[key] = _checked(source, key, DEFAULTS[key], value)
    _validate(params)
    return params


def _checked(source: str, key: str, default, value):
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(f"{source}: parameter '{key}' for inequalities must be {type(default).__name__}, "
                          f"got {value!r}")
    return copy.deepcopy(value)


def _validate(p: dict) -> None:
    for key in ("w_core20", "w_plus"):
        if p[key] < 0:
            raise ConfigError(f"inequalities: {key} must be ≥ 0, got {p[key]}")
    if p["suppress_below"] < 0 or p["round_to"] < 1:
        raise ConfigError("inequalities: suppress_below must be ≥ 0 and round_to ≥ 1")
    scores = sorted({s for bands in p["clinical_priority"].values() for s in bands.values()})
    if any(not isinstance(s, (int, float)) or isinstance(s, bool) or s <= 0 for s in scores):
        raise ConfigError("inequalities: every clinical_priority score must be a positive number")
    steps = [b - a for a, b in zip(scores, scores[1:])]
    if not 0 < p["cap_margin"] < min(steps, default=float("inf")):
        raise ConfigError(f"inequalities: cap_margin must be > 0 and below the smallest gap between "
                          f"clinical_priority scores ({min(steps, default='none')})")
    unknown = [n for n in p["plus_registers"] if n not in REGISTERS]
    if unknown:
        raise ConfigError(f"inequalities: plus_registers {', '.join(unknown)} not among the registers the patient "
                          f"facts hold ({', '.join(REGISTERS)})")
    urgent, other = [], []
    for cohort, bands in p["clinical_priority"].items():
        for band, score in bands.items():
            (urgent if band in p["urgent_bands"].get(cohort, []) else other).append(score)
    for cohort, bands in p["urgent_bands"].items():
        for band in bands:
            if band not in p["clinical_priority"].get(cohort, {}):
                raise ConfigError(f"inequalities: urgent band '{band}' of {cohort} has no clinical_priority score")
    if urgent and other and min(urgent) <= max(other):
        raise ConfigError("inequalities: every urgent band must score above every non-urgent band "
                          f"(lowest urgent {min(urgent)}, highest other {max(other)})")


def check_bands(p: dict) -> None:
    """Every band each case-finding cohort's declaration can produce (with its parameters in force)
    has a clinical_priority score, and every score names such a band: a renamed band stops the run
    before Spark starts instead of failing at the end."""
    from engine.cohorts import COHORTS
    for cohort in p["cohorts"]:
        if cohort not in COHORTS:
            raise ConfigError(f"conf/{CONF_FILE}: cohorts names '{cohort}', which is not a cohort")
        declared = COHORTS[cohort]
        bands = declared.band_labels(declared.params())
        scored = p["clinical_priority"].get(cohort, {})
        for band in bands:
            if band not in scored:
                raise ConfigError(f"conf/{CONF_FILE}: {cohort} band '{band}' has no clinical_priority score")
        for band in scored:
            if band not in bands:
                raise ConfigError(f"conf/{CONF_FILE}: clinical_priority names {cohort} band '{band}', "
                                  f"which the cohort does not produce (its bands: {'; '.join(bands)})")


# --- shared definitions (also used by the gap profile) ----------------------------------------------
def case_finding_results(results, params: dict) -> list:
    """The CohortResults of the configured case-finding cohorts, in the configured order."""
    by_name = {r.cohort.name: r for r in results}
    return [by_name[name] for name in params["cohorts"] if name in by_name]


def _decile(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def core20(decile, params: dict) -> bool:
    d = _decile(decile)
    return d is not None and d in params["core20_deciles"]


def cap(clinical: float, params: dict) -> float:
    """The highest equity priority a patient with this clinical priority may reach."""
    higher = [s for bands in params["clinical_priority"].values() for s in bands.values() if s > clinical]
    return min(higher) - params["cap_margin"] if higher else float("inf")


def weighted(clinical: float, is_core20: bool, is_plus: bool, params: dict) -> float:
    """The uncapped equity weighting of §9."""
    return clinical * (1 + params["w_core20"] * is_core20) * (1 + params["w_plus"] * is_plus)


def equity_priority(clinical: float, is_core20: bool, is_plus: bool, params: dict) -> tuple[float, bool]:
    """(equity priority, capped?) for one patient."""
    raw, ceiling = weighted(clinical, is_core20, is_plus, params), cap(clinical, params)
    return (round(ceiling, 6), True) if raw > ceiling else (round(raw, 6), False)


def _score(params: dict, cohort: str, band: str) -> float:
    try:
        return params["clinical_priority"][cohort][band]
    except KeyError:
        raise ConfigError(f"conf/{CONF_FILE}: no clinical_priority score for {cohort} band '{band}'") from None


# --- the worklist -------------------------------------------------------------------------------------
def _registers(record: Record, as_of: dt.date, patient_ids: list[str], names: list[str]) -> dict[str, set]:
    """{register: ids of the given patients on it} — a semi-join in Spark; only listed ids come back."""
    if not patient_ids or not names:
        return {n: set() for n in names}
    ids = record.spark.createDataFrame([(i,) for i in patient_ids], "patient_id string")
    rows = (patient_facts(record, as_of).join(ids, "patient_id", "left_semi")
            .select("patient_id", *[F.col(f"{n}_register").isNotNull().alias(n) for n in names]).collect())
    return {n: {r["patient_id"] for r in rows if r[n]} for n in names}


def inequalities_worklist(results, record: Record, as_of: dt.date, params: dict | None = None) -> pd.DataFrame:
    """Ranked per PCN; one row per Core20PLUS patient with at least one open case-finding need."""
    p = load_params(params)
    needs = []
    for order, result in enumerate(case_finding_results(results, p)):
        name, df = result.cohort.name, result.worklist
        for rec in df.to_dict("records"):
            needs.append({**rec, "cohort": name, "cohort_order": order, "source_rank": rec.get("rank"),
                          "score": _score(p, name, rec["band"])})
    if not needs:
        return pd.DataFrame(columns=COLUMNS)
    patients: dict[str, list[dict]] = {}
    for n in needs:
        patients.setdefault(n["patient_id"], []).append(n)
    on = _registers(record, as_of, sorted(patients), p["plus_registers"])

    rows = []
    for pid, own in patients.items():
        own.sort(key=lambda n: (-n["score"], n["cohort_order"], n["source_rank"] if n["source_rank"] is not None else 0))
        top = own[0]
        is_core20 = core20(top.get("imd_decile"), p)
        group = top.get("ethnicity_group")
        plus = ([f"ethnic group {group}"] if isinstance(group, str) and group in p["plus_ethnic_groups"] else [])
        plus += [REGISTER_LABELS.get(n, n.replace("_", " ") + " register") for n in p["plus_registers"] if pid in on[n]]
        if not (is_core20 or plus):
            continue
        clinical = top["score"]
        equity, capped = equity_priority(clinical, is_core20, bool(plus), p)
        who = []
        if is_core20:
            who.append(f"Core20 (IMD decile {_decile(top.get('imd_decile'))})")
        if plus:
            who.append(f"PLUS ({'; '.join(plus)})")
        need_text = "; ".join(f"{n['cohort']}: {n['band']}" for n in own)
        reason = (f"{' and '.join(who)} with {len(own)} open case-finding need{'s' if len(own) > 1 else ''}; "
                  f"most urgent {top['cohort']}: {top['band']} (clinical priority {clinical:g}"
                  + (", urgent band" if top["band"] in p["urgent_bands"].get(top["cohort"], []) else "")
                  + f"; equity-weighted {equity:g}"
                  + (", capped below the next clinical band" if capped else "") + ").")
        row = {c: top.get(c) for c in LEADING}
        row.update(band=f"{top['cohort']}: {top['band']}", reason=reason, needs=need_text, core20=is_core20,
                   plus_reasons="; ".join(plus), clinical_priority=clinical, equity_priority=equity,
                   imd_decile=_decile(top.get("imd_decile")), ethnicity_group=group,
                   _raw=weighted(clinical, is_core20, bool(plus), p),
                   _source_rank=top["source_rank"] if top["source_rank"] is not None else 0)
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.DataFrame(rows)
    # Capped patients of one band share a value; the uncapped weighting still orders them.
    df = df.sort_values(["pcn_id", "equity_priority", "clinical_priority", "_raw", "_source_rank", "patient_id"],
                        ascending=[True, False, False, False, True, True], kind="mergesort")
    df["rank"] = df.groupby("pcn_id").cumcount() + 1
    return df[COLUMNS].reset_index(drop=True)


def write_inequalities(df: pd.DataFrame, out: Path, pcns: list[str], pseudonymiser=None) -> dict[str, int]:
    """<out>/<pcn>/inequalities.csv for every PCN (header only where nobody is listed)."""
    columns = output_columns(COLUMNS, pseudonymiser)
    counts = {}
    for pcn in pcns:
        rows = person_rows(df[df["pcn_id"] == pcn], columns, pseudonymiser)
        counts[pcn] = write_csv(out / pcn_folder(pcn) / "inequalities.csv", columns, rows)
    return counts
