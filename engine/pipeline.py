"""The whole run: ingest → cohorts → ranked worklists per PCN → manifest, written atomically.

Two stages that can also run apart: ``ingest_record`` (input → canonical record) and ``run`` with
``record=`` (an earlier run's canonical record → worklists). Everything goes to a hidden sibling
folder first and replaces ``out`` only when the run succeeded (``engine.output_folder``).

A pseudonymised run keeps the canonical record and the quarantine (which name every patient) out of
``out``: they go to ``work`` when given, else to a private temporary folder deleted after the run.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import platform
import shutil
import time
from pathlib import Path

from engine import __version__
from engine.cohorts import COHORTS
from engine.worklists.summary import write_summaries
from engine.worklists.gap_profile import gap_profile, largest_gaps, write_gap_profile
from engine.worklists.inequalities import inequalities_worklist, write_inequalities
from engine.config import ConfigError
from engine.features.facts import patient_facts
from engine.pseudonym import Pseudonymiser
from engine.output_folder import atomic_folder, check_paths, is_casefind_output, private_mkdir, private_temp_folder
from engine.record import Record
from engine.worklists.build import UNASSIGNED, evaluate, pcn_folder, write_attrition, write_worklists

log = logging.getLogger("casefind")


def _input_summary(path: Path) -> dict:
    files = [p for p in sorted(path.rglob("*")) if p.is_file()]
    return {"path": str(path.resolve()), "files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _versions() -> dict:
    import pandas
    import pyarrow
    import pyspark
    return {"engine": __version__, "python": platform.python_version(), "pyspark": pyspark.__version__,
            "pandas": pandas.__version__, "pyarrow": pyarrow.__version__}


def _risk_scores(spark, record: Record, as_of: dt.date, work: Path, model: Path | None) -> tuple[dict, object]:
    """(manifest entry, risk input) for anticipatory care: the admission-risk model (trained on this
    record's own last year when none is given) applied to the patients the cohort's criteria list,
    and to no one else."""
    from engine.cohorts.render import evaluate as render
    from engine.features.patient import risk_features
    from engine.risk import read_card, score
    from engine.risk.history import train_from_record

    cohort = COHORTS["anticipatory_care"]
    none = spark.createDataFrame([], RISK_SCHEMA)
    t0 = time.monotonic()
    if model is None:
        try:
            card = train_from_record(record, as_of, work / "model").card
        except ValueError as e:
            log.warning("anticipatory care without a risk score: %s", e)
            return {"status": f"not trained: {e}"}, none
        artifact, status = work / "model", "trained on this input (features a year before as_of)"
    else:
        artifact, status, card = Path(model), f"given: {model}", read_card(model)
    facts = patient_facts(record, as_of)
    candidates = (render(cohort, facts, as_of, cohort.params(), {"risk": none})
                  .where("member").select("patient_id"))
    features = risk_features(facts.join(candidates, "patient_id", "left_semi"), as_of)
    scores = score(spark, features, artifact).withColumnRenamed("risk", "risk_score").cache()
    scored = scores.count()
    ev = card["evaluation"]
    log.info("risk model ready and %d candidate(s) scored in %.1f s", scored, time.monotonic() - t0)
    return ({"status": status, "artifact": "model" if model is None else str(model), "scored": scored,
             "family": card["model_family"], "not_qadmissions": card["not_qadmissions"],
             "held_out": {k: ev.get(k) for k in ("n", "events", "auroc", "record_oracle_auroc", "oracle_auroc", "brier",
                                                 "calibration_slope", "calibration_intercept")}}, scores)


RISK_SCHEMA = "patient_id string, risk_score double, top_factors string"


CANONICAL, QUARANTINE, INGEST_REPORT = "canonical", "quarantine", "ingest_report.json"


class _Clock:
    """Elapsed seconds per stage, for the log and the manifest's ``timings_s``."""

    def __init__(self):
        self.start = self.last = time.monotonic()
        self.timings: dict[str, float] = {}

    def lap(self, stage: str) -> float:
        now = time.monotonic()
        self.timings[stage] = round(now - self.last, 1)
        self.last = now
        return self.timings[stage]


def _check_input(input_path: Path) -> None:
    if not input_path.exists():
        raise ConfigError(f"input not found: {input_path}")
    if input_path.is_dir() and is_casefind_output(input_path):
        raise ConfigError(f"{input_path} is a casefind output, not an input; to evaluate its canonical record "
                          f"use --record {input_path}")


def _check_record(record: Path) -> None:
    if not (record / CANONICAL / "patients").is_dir():
        raise ConfigError(f"--record {record}: no canonical record there (expected {CANONICAL}/patients/ "
                          "from casefind ingest or casefind run)")


def _ingest(spark, input_path: Path, fmt: str | None, dest: Path, clock: _Clock, as_of: dt.date | None = None):
    from engine.ingest import ingest
    log.info("ingest: reading %s (%s)", input_path, fmt or "format detected from file names")
    result = ingest(spark, input_path, fmt, dest, as_of=as_of)
    rows = result.report["canonical_rows"]
    read_q, canonical_q = quarantined_counts(result.report)
    log.info("ingest: %s patients, %s events, %s medications; %s records quarantined (%s at read, %s at the "
             "canonical checks); %.1f s", rows.get("patients"), rows.get("events"),
             rows.get("medications"), f"{read_q + canonical_q:,}", f"{read_q:,}", f"{canonical_q:,}",
             clock.lap("ingest"))
    return result


def quarantined_counts(report: dict) -> tuple[int, int]:
    """(records quarantined at read, rows quarantined at the canonical checks) of an ingest report:
    a run's quarantine total is their sum (the canonical step quarantines, e.g., values with an
    unknown unit after every record was read)."""
    canonical_q = sum(n for reasons in report.get("canonical_quarantined", {}).values() for n in reasons.values())
    return report["totals"]["quarantined"], canonical_q


def _write_json(path: Path, data: dict) -> str:
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    path.write_text(text + "\n")
    return text


def ingest_record(spark, input_path: str | Path, out: str | Path, fmt: str | None = None) -> dict:
    """Input → ``<out>/canonical/``, ``<out>/quarantine/``, ``<out>/ingest_report.json`` and a
    manifest; ``run(record=out)`` evaluates it later without reading the input again."""
    input_path, out = Path(input_path), Path(out)
    _check_input(input_path)
    check_paths(out, {"--input": input_path})
    clock = _Clock()
    with atomic_folder(out) as stage:
        result = _ingest(spark, input_path, fmt, stage, clock)
        report = {**result.report, "input": str(input_path.resolve()), "quarantine_path": QUARANTINE}
        _write_json(stage / INGEST_REPORT, report)
        manifest = {"engine": "casefind", "kind": "canonical record", "input": {**_input_summary(input_path),
                                                                              "format": report["format"]},
                    "ingest": report, "versions": _versions(), "timings_s": clock.timings}
        _write_json(stage / "manifest.json", manifest)
    log.info("canonical record written to %s", out)
    return manifest


def check_run_paths(input_path: Path | None, out: Path, record: Path | None = None, work: Path | None = None) -> None:
    """Everything about a run's folders that can be refused before Spark starts."""
    if record is not None:
        _check_record(record)
        inputs = {"--record": record}
    else:
        _check_input(input_path)
        inputs = {"--input": input_path}
    check_paths(out, inputs, work)


def without_file_names(report: dict) -> dict:
    """The ingest report with its lists of file names reduced to counts: some exports name files
    after patients (Synthea's Bundles are ``Given_Family_<id>.json``)."""
    files = report.get("files", {})
    return {**report, "files": {k: v if k == "read" else len(v) if isinstance(v, (list, dict)) else v
                                for k, v in files.items()}}


def _private_work(work: Path | None) -> tuple[Path, bool]:
    """(folder for the identifiable working record, whether to delete it after the run)."""
    if work is not None:
        return private_mkdir(work), False
    return private_temp_folder(), True


def run(spark, input_path: str | Path | None, as_of: dt.date, out: str | Path, fmt: str | None = None,
        cohorts: list[str] | None = None, pseudonymiser: Pseudonymiser | None = None,
        model: str | Path | None = None, record: str | Path | None = None, work: str | Path | None = None) -> dict:
    """Evaluate every cohort (or ``cohorts``) as of ``as_of`` and write the outputs to ``out``.

    Reads ``input_path`` (ingesting it) or, with ``record``, the canonical record of an earlier run.
    """
    out = Path(out)
    record_path = Path(record) if record is not None else None
    input_path = Path(input_path) if input_path is not None else None
    work = Path(work) if work is not None else None
    check_run_paths(input_path, out, record_path, work)
    names = cohorts or list(COHORTS)
    unknown = [n for n in names if n not in COHORTS]
    if unknown:
        raise ConfigError(f"unknown cohort(s): {', '.join(unknown)} (known: {', '.join(COHORTS)})")

    clock = _Clock()
    rec = None
    with atomic_folder(out) as stage:
        private, delete_private = _private_work(work) if pseudonymiser is not None else (stage, False)
        try:
            if record_path is not None:
                rec = Record.read_parquet(spark, record_path / CANONICAL)
                report_file = record_path / INGEST_REPORT
                report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.is_file() else {}
                source = {"record": str(record_path.resolve()), "format": report.get("format")}
                log.info("canonical record: %s (no ingest)", record_path)
                clock.lap("read record")
            else:
                result = _ingest(spark, input_path, fmt, private, clock, as_of)
                rec = Record.from_tables(result.tables)
                report = {**result.report, "input": str(input_path.resolve()),
                          "quarantine_path": QUARANTINE if pseudonymiser is None else
                          (str(private / QUARANTINE) if not delete_private else "not kept (pseudonymised run)")}
                if pseudonymiser is None:
                    _write_json(stage / INGEST_REPORT, report)
                else:
                    report = without_file_names(report)
                source = {**_input_summary(input_path), "format": report["format"]}
            manifest = _evaluate(spark, rec, as_of, stage, names, pseudonymiser, model, clock)
            manifest = {**manifest, "engine": "casefind", "as_of": as_of.isoformat(), "input": source,
                        "ingest": report, "pseudonymised": pseudonymiser is not None, "versions": _versions(),
                        "timings_s": {**clock.timings, "total": round(time.monotonic() - clock.start, 1)}}
            text = _write_json(stage / "manifest.json", manifest)
            write_summaries(stage, json.loads(text))
        finally:
            if rec is not None:
                for cached in rec.facts.values():
                    cached.unpersist()
            if delete_private:
                shutil.rmtree(private, ignore_errors=True)
    log.info("worklists for %d PCN(s) written to %s%s in %.1f s", len(manifest["pcns"]), out,
             " (includes UNASSIGNED)" if UNASSIGNED in manifest["pcns"] else "", time.monotonic() - clock.start)
    return manifest


def _evaluate(spark, record: Record, as_of: dt.date, stage: Path, names: list[str],
              pseudonymiser: Pseudonymiser | None, model, clock: _Clock) -> dict:
    """Patient facts, risk scores, every cohort, the worklists, attrition, gap profile and
    inequalities → ``stage``; returns the manifest's cohort part."""
    facts = patient_facts(record, as_of)
    log.info("patient facts: %d patients, %.1f s", facts.count(), clock.lap("patient facts"))
    inputs, scores = {}, None
    if "anticipatory_care" in names:
        risk_model, scores = _risk_scores(spark, record, as_of, stage, model)
        inputs["risk"] = scores
        clock.lap("risk model")
    else:
        risk_model = {"status": "not needed (anticipatory_care not run)"}

    results = []
    try:
        for i, name in enumerate(names, 1):
            t0 = time.monotonic()
            results.append(evaluate(COHORTS[name], record, as_of, inputs=inputs))
            log.info("cohort %d/%d %s: %d listed, %.1f s", i, len(names), name, len(results[-1].worklist),
                     time.monotonic() - t0)
    finally:
        if scores is not None:
            scores.unpersist()
    clock.lap("cohorts")

    pcns = sorted({a["pcn_id"] for r in results for a in r.attrition})
    manifest = {"pcns": pcns, "pcn_folders": {p: pcn_folder(p) for p in pcns}, "cohorts": {},
                "risk_model": risk_model}
    for r in results:
        counts = write_worklists(r, stage, pcns, pseudonymiser)
        wl = r.worklist
        manifest["cohorts"][r.cohort.name] = {
            "title": r.cohort.title,
            "parameters": r.params,
            "listed": int(len(wl)),
            "by_band": {str(k): int(v) for k, v in sorted(wl["band"].value_counts().items())},
            "by_pcn": {pcn: counts[pcn] for pcn in pcns},
            "outputs": [f"{pcn_folder(p)}/{r.cohort.name}.csv" for p in pcns],
        }
    write_attrition(results, stage, pcns)
    # CLINICAL_RULES §9: who the case-finding cohorts reach, and the Core20PLUS worklist.
    profile = gap_profile(results, record, as_of)
    write_gap_profile(profile, stage, pcns)
    equity = inequalities_worklist(results, record, as_of)
    manifest["inequalities"] = {
        "listed": int(len(equity)),
        "by_pcn": write_inequalities(equity, stage, pcns, pseudonymiser),
        "largest_gaps": {pcn: {f"{r.cohort} by {r.dimension}": r.largest_gap
                               for r in largest_gaps(profile[profile["pcn_id"] == pcn]).itertuples()}
                         for pcn in pcns},
    }
    manifest["codelists"] = {name: {"file": Path(path).name, "sha256": _sha256(path)}
                             for name, path in sorted(record.codelist_paths.items())}
    log.info("worklists, attrition, gap profile and inequalities written: %.1f s", clock.lap("outputs"))
    return manifest


def sweep_run(spark, input_path: str | Path | None, as_of: dt.date, out: str | Path, cohort: str, key: str,
              values: list, record: str | Path | None = None, fmt: str | None = None) -> dict:
    """``casefind sweep``: ``cohort`` for each of ``values`` of parameter ``key`` → ``out`` (atomically)."""
    from engine.worklists.sweep import sweep, write_sweep
    out = Path(out)
    record_path = Path(record) if record is not None else None
    input_path = Path(input_path) if input_path is not None else None
    check_run_paths(input_path, out, record_path)
    if cohort not in COHORTS:
        raise ConfigError(f"unknown cohort {cohort!r} (known: {', '.join(COHORTS)})")
    declared = COHORTS[cohort]
    if key not in declared.parameters:
        raise ConfigError(f"cohort {cohort} has no parameter '{key}' (known: {', '.join(sorted(declared.parameters))})")
    for v in values:                       # every value checked before Spark work starts
        declared.params({key: v})
    clock = _Clock()
    rec = None
    with atomic_folder(out) as stage:
        try:
            if record_path is not None:
                rec = Record.read_parquet(spark, record_path / CANONICAL)
            else:
                rec = Record.from_tables(_ingest(spark, input_path, fmt, stage, clock, as_of).tables)
            inputs = {"risk": spark.createDataFrame([], RISK_SCHEMA)} if declared.inputs else None
            counts, changes = sweep(rec, as_of, declared, key, values, inputs)
            clock.lap("sweep")
            pcns = sorted(counts)
            written = write_sweep(stage, cohort, key, counts, changes)
            manifest = {"engine": "casefind", "kind": "sweep", "as_of": as_of.isoformat(), "cohort": cohort,
                        "parameter": key, "values": values, "pcns": pcns,
                        "pcn_folders": {p: pcn_folder(p) for p in pcns},
                        "rows": {p: {"counts": c, "changes": ch} for p, (c, ch) in written.items()},
                        "versions": _versions(), "timings_s": clock.timings}
            _write_json(stage / "manifest.json", manifest)
        finally:
            if rec is not None:
                for cached in rec.facts.values():
                    cached.unpersist()
    log.info("sweep of %s.%s over %d values written to %s", cohort, key, len(values), out)
    return manifest
