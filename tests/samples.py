"""The public FHIR sample folders (../shared/fhir_samples), each ingested once per test session and
shared: the sample ingest tests read the result, the end-to-end tests evaluate it as a stored record."""
from __future__ import annotations

import json
from pathlib import Path

# folder → (data sub-folder, expected format)
FOLDERS = {
    "synthea_pathling_bundles": ("fhir", "fhir-bundles"),
    "bulk_pathling_testdata": ("ndjson", "fhir-ndjson"),
    "bulk_smart_sample_10patients": ("ndjson", "fhir-ndjson"),
    "bulk_cumulus_etl_simple": ("ndjson", "fhir-ndjson"),
    "hl7_fhir_r4_examples": ("examples", "fhir-bundles"),
    "ukcore_r4_examples": ("json", "fhir-bundles"),
    "uk_nhs_eps_examples": ("examples", "fhir-bundles"),
}


class SampleIngests:
    """folder → ``engine.ingest.ingest`` of its data into a folder that is also a stored record
    (``run(record=...)`` reads it: canonical/, quarantine/ and ingest_report.json)."""

    def __init__(self, spark, samples: Path, base: Path):
        self.spark, self.samples, self.base = spark, samples, base
        self.results: dict = {}

    def __call__(self, folder: str):
        if folder not in self.results:
            from engine.ingest import ingest
            sub, _ = FOLDERS[folder]
            source, record = self.samples / folder / sub, self.base / folder
            result = ingest(self.spark, source, None, record)
            (record / "ingest_report.json").write_text(json.dumps(
                {**result.report, "input": str(source.resolve()), "quarantine_path": "quarantine"}, default=str))
            self.results[folder] = result
        return self.results[folder]

    def record(self, folder: str) -> Path:
        self(folder)
        return self.base / folder
