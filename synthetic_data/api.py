"""``generate``: check the arguments, stream the population chunk by chunk to a writer, write truth."""
from __future__ import annotations

import csv
import datetime as dt
import json
import math
import shutil
from pathlib import Path

from synthetic_data import admissions
from synthetic_data.fhir_writer import UKCORE_ETHNIC_SYSTEM, BundleWriter, NdjsonWriter
from synthetic_data.gp_extract_writer import GpExtractWriter
from synthetic_data.population import CHUNK, Population
from synthetic_data.vocab import Vocab

FORMATS = ("fhir-ndjson", "fhir-bundles", "gp-extract")
NDJSON_CHUNKED_ABOVE = 20_000     # patients; above this every type is split into numbered files
MAX_PATIENTS = 100_000_000


def _check(out, n_patients, seed, fmt, as_of, n_pcns) -> Path:
    if isinstance(n_patients, bool) or not isinstance(n_patients, int) or not 1 <= n_patients <= MAX_PATIENTS:
        raise ValueError(f"n_patients must be a whole number from 1 to {MAX_PATIENTS:,}, got {n_patients!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if isinstance(as_of, dt.datetime) or not isinstance(as_of, dt.date):
        raise ValueError(f"as_of must be a datetime.date, got {as_of!r}")
    if not dt.date(1950, 1, 1) <= as_of <= dt.date(2100, 12, 31):
        raise ValueError(f"as_of must be between 1950 and 2100, got {as_of}")
    if n_pcns is not None and (isinstance(n_pcns, bool) or not isinstance(n_pcns, int)
                               or not 1 <= n_pcns <= min(n_patients, 89_999)):
        raise ValueError(f"n_pcns must be a whole number from 1 to {min(n_patients, 89_999)}, got {n_pcns!r}")
    if not isinstance(out, (str, Path)) or str(out) == "":
        raise ValueError(f"out must be a folder path, got {out!r}")
    path = Path(out).resolve()
    if path.exists() and not path.is_dir():
        raise ValueError(f"output path {path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()):
        raise ValueError(f"output folder {path} is not empty (generated files would mix with old ones)")
    return path


def generate(out, n_patients: int, seed: int = 42, fmt: str = "fhir-ndjson",
             as_of: dt.date = dt.date(2026, 3, 31), n_pcns: int | None = None) -> dict:
    """Write a synthetic population in ``fmt`` under ``out``, with truth.csv, near_misses.csv,
    risk_truth.csv (the admissions oracle, synthetic_data.admissions) and generator.json; returns
    the summary written to generator.json."""
    final = _check(out, n_patients, seed, fmt, as_of, n_pcns)
    n_pcns = n_pcns or math.ceil(n_patients / 40_000)
    vocab = Vocab()
    pop = Population(seed, n_patients, n_pcns, as_of, vocab)
    # Written beside the target and renamed at the end: a failed run never leaves half a population.
    path = final.with_name(final.name + ".partial")
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    try:
        summary = _write(path, pop, vocab, n_patients, n_pcns, seed, fmt, as_of)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    if final.exists():
        final.rmdir()
    path.rename(final)
    return summary


def _write(path, pop, vocab, n_patients, n_pcns, seed, fmt, as_of) -> dict:

    eth_rows = vocab.rows("ethnicity")
    letters = {r["category"]: (r["code"], r["term"]) for r in eth_rows if r["system"] == UKCORE_ETHNIC_SYSTEM}
    category_of = {r["code"]: r.get("category", "") for r in eth_rows if r["system"] != UKCORE_ETHNIC_SYSTEM}
    if fmt == "fhir-ndjson":
        writer = NdjsonWriter(path, letters, category_of, chunked=n_patients > NDJSON_CHUNKED_ABOVE)
    elif fmt == "fhir-bundles":
        writer = BundleWriter(path, letters, category_of)
    else:
        writer = GpExtractWriter(path, as_of)

    bands: dict[str, int] = {}
    scenario_counts: dict[str, int] = {}
    mismatches: list[str] = []
    layout_mismatches: list[str] = []
    n_near = 0
    risk_n = risk_admitted = 0
    risk_sum = 0.0
    with open(path / "truth.csv", "w", newline="", encoding="utf-8") as tf, \
            open(path / "near_misses.csv", "w", newline="", encoding="utf-8") as nf, \
            open(path / "risk_truth.csv", "w", newline="", encoding="utf-8") as rf:
        truth_w, near_w = csv.writer(tf, lineterminator="\n"), csv.writer(nf, lineterminator="\n")
        risk_w = csv.writer(rf, lineterminator="\n")
        truth_w.writerow(["patient_id", "cohort", "band", "pcn_id", "scenario"])
        near_w.writerow(["patient_id", "cohort", "scenario"])
        risk_w.writerow(["patient_id", "index_date", "oracle_probability", "record_oracle_probability",
                         "admitted_12m"])
        try:
            writer.organisations(pop.plan)
            for chunk in pop.chunks():
                writer.patients(chunk)
                for b in chunk:
                    pid = b.patient["patient_id"]
                    if b.risk:
                        r = b.risk
                        risk_w.writerow([pid, r["index_date"], f"{r['oracle_probability']:.6f}",
                                         f"{r['record_oracle_probability']:.6f}", r["admitted_12m"]])
                        risk_n += 1
                        risk_admitted += r["admitted_12m"]
                        risk_sum += r["oracle_probability"]
                    name = b.scenario.name if b.scenario else "background"
                    layout_mismatches.extend(f"{name}: {cohort}" for cohort in b.layout_mismatch)
                    if b.scenario:
                        cohort = b.scenario.cohort
                        scenario_counts[name] = scenario_counts.get(name, 0) + 1
                        if b.truth.get(cohort) != b.scenario.band:
                            mismatches.append(name)
                        if b.scenario.band is None and cohort not in b.truth:
                            near_w.writerow([pid, cohort, name])
                            n_near += 1
                    for cohort, band in sorted(b.truth.items()):
                        # the scenario is named only on the row of the cohort it was planted for
                        why = name if b.scenario and cohort == b.scenario.cohort else "background"
                        truth_w.writerow([pid, cohort, band, b.pcn_id, why])
                        key = f"{cohort}: {band}"
                        bands[key] = bands.get(key, 0) + 1
        finally:
            writer.close()

    summary = {
        "generator": "synthetic_data", "seed": seed, "n_patients": n_patients, "n_pcns": n_pcns,
        "as_of": as_of.isoformat(), "format": fmt, "chunk_size": CHUNK,
        "counts": {
            "practices": len(pop.plan.practices), "pcns": len(pop.plan.pcns),
            "records": dict(sorted(writer.counts.items())),
            "truth": dict(sorted(bands.items())), "truth_total": sum(bands.values()),
            "near_misses": n_near, "scenarios": dict(sorted(scenario_counts.items())),
        },
        # a scenario whose records did not give its intended band: a generator bug, never expected
        "scenario_mismatches": sorted(set(mismatches)),
        # a patient whose bands differ between the FHIR and GP-extract layouts of their medicines
        # (an authorisation vs the issues it implied): planted dates keep off window edges, so never expected
        "layout_mismatches": sorted(set(layout_mismatches)),
        # emergency admissions: the latent model and what it gave (risk_truth.csv)
        "admissions_model": admissions.describe() | {
            "index_date": admissions.index_date(as_of).isoformat(),
            "training_population": risk_n, "admitted_12m": risk_admitted,
            "admission_rate": round(risk_admitted / risk_n, 6) if risk_n else None,
            "mean_oracle_probability": round(risk_sum / risk_n, 6) if risk_n else None},
    }
    (path / "generator.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary

