"""The suite's one reference run, shared by every test that needs a whole pipeline run (conftest.py
holds the session fixtures that build it once).

One generated population of REFERENCE_PATIENTS patients in two PCNs (and UNASSIGNED), as FHIR bulk
NDJSON, run through every cohort with the risk model trained on its own last year: that is what the
end-to-end, safe-outputs, answer-key, sweep and cluster tests read. The same population as a GP
extract runs the pipeline once more, given the reference's model (a scheduled job reusing an
artifact); as FHIR Bundles it is only ingested, and its canonical tables are compared with the
reference's table by table (equal tables give equal worklists: the run is a function of the record).
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

AS_OF = dt.date(2026, 3, 31)
N_PATIENTS, N_PCNS, SEED = 1500, 2, 20260331


@dataclass
class Run:
    data: Path                # the generated input
    out: Path                 # the run's --out (or the ingested record's folder)
    manifest: dict
    log: list[str] = field(default_factory=list)     # the run's "casefind" log lines


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def generated(base: Path, fmt: str) -> Path:
    from synthetic_data import generate
    data = base / fmt / "input"
    generate(data, n_patients=N_PATIENTS, seed=SEED, fmt=fmt, as_of=AS_OF, n_pcns=N_PCNS)
    return data


def pipeline_run(spark, data: Path, fmt: str, model: Path | None = None) -> Run:
    """Run every cohort on the generated ``data`` (``generated``), keeping the run's log lines."""
    from engine.pipeline import run
    base = data.parent.parent
    logger, lines = logging.getLogger("casefind"), _Lines()
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        manifest = run(spark, data, AS_OF, base / fmt / "out", fmt=fmt, model=model)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    return Run(data, base / fmt / "out", manifest, lines.lines)


def ingested(spark, base: Path, fmt: str) -> Run:
    from engine.pipeline import ingest_record
    data = generated(base, fmt)
    manifest = ingest_record(spark, data, base / fmt / "record", fmt=fmt)
    return Run(data, base / fmt / "record", manifest)
