"""The GP-extract layout (README, "GP extract"): one CSV per table, rows straight from the canonical rows.

Row ids are the FHIR-style source ids ("Observation/<id>"), so this format and the FHIR ones can
be compared row for row; an Observation with several codings or components gives several rows
with the same event_id, as a panel does in a real extract. A GP extract's medication rows are
issues: a repeat authorisation is written as the issues it implied up to ``as_of``
(``records.gp_extract_rows``: ids ``MedicationRequest/<id>/issue-<n>``). The patient row carries
the current address only.
"""
from __future__ import annotations

import csv
from pathlib import Path

from engine.codes import LOINC, RXNORM, SNOMED
from synthetic_data import records as R

SHORT_SYSTEM = {SNOMED: "snomedct", LOINC: "loinc", RXNORM: "rxnorm"}
COLUMNS = {
    "practices": ["practice_id", "practice_name", "pcn_id", "pcn_name"],
    "patients": ["patient_id", "nhs_number", "given_name", "family_name", "birth_date", "sex",
                 "death_date", "lsoa_code", "practice_id", "registration_start", "registration_end",
                 "care_home"],
    "events": ["event_id", "patient_id", "date", "system", "code", "display", "value", "unit", "kind",
               "status"],
    "medications": ["issue_id", "patient_id", "date", "end_date", "system", "code", "display", "status",
                    "quantity"],
    "referrals": ["referral_id", "patient_id", "date", "system", "code", "display", "priority", "status",
                  "outcome_date"],
    "encounters": ["encounter_id", "patient_id", "start", "end", "class", "system", "code"],
}
ID_COLUMN = {"events": "event_id", "medications": "issue_id", "referrals": "referral_id",
             "encounters": "encounter_id"}


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class GpExtractWriter:
    def __init__(self, out: Path, as_of):
        self.out, self.as_of = out, as_of
        self._fh = {t: open(out / f"{t}.csv", "w", encoding="utf-8", newline="") for t in COLUMNS}
        self._w = {t: csv.writer(fh, lineterminator="\n") for t, fh in self._fh.items()}
        for t, cols in COLUMNS.items():
            self._w[t].writerow(cols)
        self.counts: dict[str, int] = {}

    def _row(self, table: str, row: dict):
        row = dict(row)
        if "system" in row:
            row["system"] = SHORT_SYSTEM.get(row["system"], row["system"])
        if table in ID_COLUMN:
            row[ID_COLUMN[table]] = row["source_id"]
        self._w[table].writerow([cell(row.get(c)) for c in COLUMNS[table]])
        self.counts[table] = self.counts.get(table, 0) + 1

    def organisations(self, plan):
        for pr in plan.practices:
            self._row("practices", {"practice_id": pr.ods, "practice_name": pr.name,
                                    "pcn_id": pr.pcn.ods if pr.pcn else None,
                                    "pcn_name": pr.pcn.name if pr.pcn else None})

    def patients(self, chunk):
        for built in chunk:
            p = built.patient
            self._row("patients", p)
            for res in built.resources:
                table, rows = R.gp_extract_rows(p["patient_id"], res, self.as_of)
                for row in rows:
                    self._row(table, row)

    def close(self):
        for fh in self._fh.values():
            fh.close()
