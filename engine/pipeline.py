"""The whole run: ingest → cohorts → ranked worklists per PCN → manifest, written atomically.

Everything goes to a hidden sibling folder first and replaces ``out`` only when the run succeeded,
so a failed run leaves the last good outputs untouched.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
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
from engine.record import Record
from engine.worklists.build import UNASSIGNED, evaluate, pcn_folder, write_attrition, write_worklists

log = logging.getLogger("casefind")


@contextlib.contextmanager
def atomic_folder(out: Path):
    out = out.resolve()
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise ConfigError(f"output folder {out} exists and is not a casefind output; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)


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


def _risk_scores(spark, record: Record, as_of: dt.date, work: Path, input_path: Path, model: Path | None) -> dict:
    """Score every registered patient with the admission-risk model (trained on this record's own
    last year when no model is given) and put the scores on the record for anticipatory care."""
    from engine.features.patient import patient_features
    from engine.risk import read_card, score
    from engine.risk.history import train_from_record

    t0 = time.monotonic()
    if model is None:
        try:
            card = train_from_record(record, as_of, work / "model", input_path).card
        except ValueError as e:
            log.warning("anticipatory care without a risk score: %s", e)
            return {"status": f"not trained: {e}"}
        artifact, status = work / "model", "trained on this input (features a year before as_of)"
    else:
        artifact, status, card = Path(model), f"given: {model}", read_card(model)
    features = patient_features(record, as_of).where("alive_registered").cache()
    record.features[as_of] = features
    record.scores = score(spark, features, artifact).cache()
    ev = card["evaluation"]
    log.info("risk model ready in %.1f s", time.monotonic() - t0)
    return {"status": status, "artifact": "model" if model is None else str(model),
            "family": card["model_family"], "not_qadmissions": card["not_qadmissions"],
            "held_out": {k: ev.get(k) for k in ("n", "events", "auroc", "record_oracle_auroc", "oracle_auroc", "brier",
                                                "calibration_slope", "calibration_intercept")}}


def run(spark, input_path: str | Path, as_of: dt.date, out: str | Path, fmt: str | None = None,
        cohorts: list[str] | None = None, pseudonymised: bool = False, model: str | Path | None = None) -> dict:
    from engine.ingest import detect_format, ingest

    input_path, out = Path(input_path), Path(out)
    if not input_path.exists():
        raise ConfigError(f"input not found: {input_path}")
    fmt = fmt or detect_format(input_path)
    names = cohorts or list(COHORTS)
    unknown = [n for n in names if n not in COHORTS]
    if unknown:
        raise ConfigError(f"unknown cohort(s): {', '.join(unknown)} (known: {', '.join(COHORTS)})")

    with atomic_folder(out) as work:
        started = time.monotonic()
        result = ingest(spark, input_path, fmt, work)
        log.info("ingest: %s patients, %s events, %s quarantined, %.1f s",
                 result.report["canonical_rows"].get("patients"), result.report["canonical_rows"].get("events"),
                 result.report["totals"]["quarantined"], time.monotonic() - started)
        record = Record.from_tables(result.tables)
        risk_model = _risk_scores(spark, record, as_of, work, input_path, model) \
            if "anticipatory_care" in names else {"status": "not needed (anticipatory_care not run)"}

        results = []
        for name in names:
            t0 = time.monotonic()
            results.append(evaluate(COHORTS[name], record, as_of))
            log.info("cohort %s: %d listed, %.1f s", name, len(results[-1].worklist), time.monotonic() - t0)

        pcns = sorted({a["pcn_id"] for r in results for a in r.attrition})
        manifest = {
            "engine": "casefind", "as_of": as_of.isoformat(),
            "input": {**_input_summary(input_path), "format": fmt},
            # paths inside the work folder are only meaningful relative to the final output
            "ingest": {**result.report, "input": str(input_path.resolve()), "quarantine_path": "quarantine"},
            "pcns": pcns, "pseudonymised": pseudonymised,
            "cohorts": {}, "versions": _versions(), "risk_model": risk_model,
        }
        for r in results:
            counts = write_worklists(r, work, pcns, pseudonymised)
            wl = r.worklist
            manifest["cohorts"][r.cohort.name] = {
                "title": r.cohort.title,
                "parameters": r.cohort.params(),
                "listed": int(len(wl)),
                "by_band": {str(k): int(v) for k, v in sorted(wl["band"].value_counts().items())},
                "by_pcn": {pcn: counts[pcn] for pcn in pcns},
                "outputs": [f"{pcn_folder(p)}/{r.cohort.name}.csv" for p in pcns],
            }
        write_attrition(results, work, pcns)
        # CLINICAL_RULES §9: who the case-finding cohorts reach, and the Core20PLUS worklist.
        profile = gap_profile(results, record, as_of)
        write_gap_profile(profile, work, pcns)
        equity = inequalities_worklist(results, record, as_of)
        manifest["inequalities"] = {
            "listed": int(len(equity)),
            "by_pcn": write_inequalities(equity, work, pcns, pseudonymised),
            "largest_gaps": {pcn: {f"{r.cohort} by {r.dimension}": r.largest_gap
                                   for r in largest_gaps(profile[profile["pcn_id"] == pcn]).itertuples()}
                             for pcn in pcns},
        }
        manifest["codelists"] = {name: {"file": Path(path).name, "sha256": _sha256(path)}
                                 for name, path in sorted(record.codelist_paths.items())}
        text = json.dumps(manifest, indent=2, sort_keys=True, default=str)
        (work / "manifest.json").write_text(text + "\n")
        write_summaries(work, json.loads(text))
    for cached in [record.scores, *record.features.values()]:
        if cached is not None:
            cached.unpersist()
    log.info("worklists for %d PCN(s) written to %s%s", len(pcns), out,
             " (includes UNASSIGNED)" if UNASSIGNED in pcns else "")
    return manifest
