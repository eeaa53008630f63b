"""The ViewDefinitions that say where each canonical column is in a FHIR resource (conf/views/).

One view per canonical table and source resource type, named ``<table>.<ResourceType>.json``
(``lookup.*`` views feed references: practices from Organization, medicines from Medication). A
site whose supplier writes a value somewhere else edits the view, not the code (README, "Adapting
the FHIR views"). Each view is compiled once (engine.views, strict: an element its resource type
does not have is an error, so a typo fails before Spark reads a byte) and must still give the
columns the steps after it read (``REQUIRED``); a view may add columns, which are ignored.

What a view cannot say stays in engine.ingest.fhir_mapping, after it: dates and numbers read from
their text with a quarantine reason when unreadable, code systems normalised, references resolved
(to a patient, a practice, a contained or referenced Medication, a urn:uuid in the same Bundle),
one canonical row per coding and status.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.config import ConfigError, conf_dir
from engine.views import CompiledView, compile_view


def view_dir() -> Path:
    """conf/views, or ``$CASEFIND_CONF/views`` where a site keeps its own configuration."""
    return conf_dir() / "views"

_CODING = ("system", "code", "display")
REQUIRED: dict[str, tuple[str, ...]] = {
    "Patient": ("id", "nhs_number", "given_names", "family_name", "gender", "birth_date", "deceased_boolean",
                "deceased_date_time", "lsoa_string", "lsoa_code", "care_home_flags", "registration_start",
                "registration_end", "ethnicity_system", "ethnicity_code", "managing_organization",
                "managing_organization_type", "managing_organization_identifier", "gp_reference", "gp_type",
                "gp_identifier"),
    "Organization": ("id", "ods", "name", "part_of", "part_of_type", "part_of_identifier", "part_of_display"),
    "Medication": ("id", *_CODING),
    "Condition": ("id", "subject", "clinical_status", "verification_status", "onset_date_time",
                  "onset_period_start", "recorded_date", "abatement_date_time", "abatement_period_start", *_CODING),
    "Observation": ("id", "status", "subject", "effective_date_time", "effective_period_start",
                    "effective_instant", "issued", "value", "unit", "unit_code", *_CODING),
    "Procedure": ("id", "status", "subject", "performed_date_time", "performed_period_start", *_CODING),
    "MedicationRequest": ("id", "status", "intent", "course_of_therapy", "repeats_allowed", "supply_value",
                          "supply_code", "supply_unit", "subject", "authored_on", "quantity", "validity_start", "validity_end",
                          "medication_reference", "contained", *_CODING),
    "ServiceRequest": ("id", "status", "priority", "subject", "authored_on", "occurrence_date_time",
                       "occurrence_period_start", *_CODING),
    "Encounter": ("id", "status", "class_code", "subject", "period_start", "period_end", "based_on", *_CODING),
}

# Beside what the view reads, every resource is parsed with: meta.lastUpdated (which copy of a
# duplicated id is current), a bulk export log line's eventId/exportId (skipped, not quarantined),
# and the text of a record Spark could not read whole (CORRUPT).
CORRUPT = "_corrupt"
_EXTRA_TREE = {"meta": {"lastUpdated": {}}}
_EXTRA_FIELDS = (T.StructField("eventId", T.StringType()), T.StructField("exportId", T.StringType()),
                 T.StructField(CORRUPT, T.StringType()))


@dataclass(frozen=True)
class IngestView:
    path: Path
    table: str
    view: CompiledView
    schema: T.StructType

    @property
    def resource(self) -> str:
        return self.view.resource


def _load(path: Path) -> IngestView:
    table, _, rest = path.name.partition(".")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        cv = compile_view(raw, strict=True)
    except (OSError, ValueError) as e:
        raise ConfigError(f"view {path.name}: {e}") from None
    if not rest.startswith(cv.resource + "."):
        raise ConfigError(f"view {path.name}: file name says {rest.split('.')[0]} but the view reads {cv.resource}")
    missing = [c for c in REQUIRED.get(cv.resource, ()) if c not in cv.columns]
    if missing:
        raise ConfigError(f"view {path.name}: ingest needs column(s) {', '.join(missing)}")
    return IngestView(path=path, table=table, view=cv, schema=cv.schema_with(_EXTRA_TREE, *_EXTRA_FIELDS))


def load_views(folder: Path | None = None) -> dict[str, IngestView]:
    """Resource type → its view, from ``folder`` (default ``view_dir()``). A ConfigError (one line
    naming the file) for a view that does not compile or lacks a column ingest reads."""
    return _load_folder((Path(folder) if folder else view_dir()).resolve())


@lru_cache(maxsize=8)
def _load_folder(folder: Path) -> dict[str, IngestView]:
    if not folder.is_dir():
        raise ConfigError(f"no FHIR views folder at {folder}")
    out: dict[str, IngestView] = {}
    for path in sorted(folder.glob("*.json")):
        v = _load(path)
        if v.resource in out:
            raise ConfigError(f"views {out[v.resource].path.name} and {path.name} both read {v.resource}")
        out[v.resource] = v
    absent = sorted(set(REQUIRED) - set(out))
    if absent:
        raise ConfigError(f"no view in {folder} for {', '.join(absent)}")
    return out


def view_rows(v: IngestView) -> F.Column:
    """The view's rows for the resource parsed into ``engine.views.ROOT``: an array of row structs
    (empty when the view's where excludes the resource)."""
    rows = v.view.rows.col if v.view.rows.many else F.array(v.view.rows.col)
    if v.view.where is not None:
        rows = F.when(v.view.where, rows).otherwise(F.filter(rows, lambda _: F.lit(False)))
    return rows
