"""The canonical record: the one contract every stage shares.

Every source (FHIR bulk NDJSON, FHIR Bundles, GP-extract tables) is turned into these six tables,
written as Parquet under ``<out>/canonical/<table>/``. Nothing downstream of ingest knows where a
row came from. Dates are Spark ``date``; identifiers are strings; code systems are canonical URIs
(see ``engine.codes``).

Mapping rules every reader follows (so that the three formats give identical tables):

* A coded element becomes one row per coding (a SNOMED + LOINC observation gives two rows with the
  same ``source_id``). Codings with no code are dropped; an element with no usable coding is
  quarantined.
* ``events``: Observation → one row per coding of ``code`` (value/unit from ``valueQuantity``) and
  one row per coding of each ``component`` (its own ``valueQuantity``), all with the resource's
  date and ``source_id``. Condition → a row with status ``active`` dated at onset
  (onsetDateTime, onsetPeriod.start, else recordedDate); if clinicalStatus is inactive / resolved /
  remission, or an abatement date is present, a second row with status ``resolved`` dated at
  abatementDateTime (else recordedDate, else onset). verificationStatus refuted or
  entered-in-error gives a single row with that status instead. Procedure → ``procedure`` rows.
  Observation status entered-in-error / cancelled → ``entered-in-error``; Procedure not-done →
  ``refuted``.
* Dates: the calendar date written in the source (the first 10 characters of a dateTime); a
  partial date ``YYYY-MM`` → the 1st of the month, ``YYYY`` → 1 January.
* ``source_id`` is ``<ResourceType>/<id>`` for FHIR and the extract's own row id for GP extracts.
"""
from __future__ import annotations

from pyspark.sql import types as T

S, D, DBL, B, I = T.StringType(), T.DateType(), T.DoubleType(), T.BooleanType(), T.IntegerType()


def _schema(*fields: tuple) -> T.StructType:
    return T.StructType([T.StructField(name, typ, True) for name, typ in fields])


PATIENTS = _schema(
    ("patient_id", S), ("nhs_number", S), ("given_name", S), ("family_name", S),
    ("birth_date", D), ("sex", S), ("death_date", D),
    # deceased: true when the source says the patient died, with or without a date
    ("deceased", B),
    ("ethnicity_code", S), ("ethnicity_group", S), ("ethnicity_category", S),
    ("lsoa_code", S), ("imd_decile", I),
    ("practice_id", S), ("registration_start", D), ("registration_end", D),
    ("address_care_home", B),
)

PRACTICES = _schema(("practice_id", S), ("practice_name", S), ("pcn_id", S), ("pcn_name", S))

EVENTS = _schema(
    ("patient_id", S), ("date", D), ("system", S), ("code", S), ("display", S),
    ("value", DBL), ("unit", S),
    ("kind", S),     # condition / observation / procedure / finding
    ("status", S),   # active / resolved / refuted / entered-in-error
    ("source_id", S),
    # value and unit as the source wrote them (engine.ingest.units converts value/unit; these keep
    # the original, e.g. 192 mg/dL beside 4.9651 mmol/L, so a reason can quote the lab report)
    ("value_recorded", DBL), ("unit_recorded", S),
)

MEDICATIONS = _schema(
    ("patient_id", S), ("date", D), ("end_date", D), ("system", S), ("code", S), ("display", S),
    ("status", S), ("quantity", DBL), ("source_id", S),
    # kind (CLINICAL_RULES §0): issue (one prescription issued on ``date``), authorisation (a repeat
    # template or standing order covering ``date`` to ``end_date``; open while active when no end),
    # or other (a request that is neither, e.g. a proposal: never counted)
    ("kind", S),
    # supply_days: dispenseRequest.expectedSupplyDuration in days, when given (one implied issue per
    # started period of this length; 28 days when null)
    ("supply_days", I),
)

REFERRALS = _schema(
    ("patient_id", S), ("date", D), ("system", S), ("code", S), ("display", S),
    ("priority", S), ("status", S), ("outcome_date", D), ("source_id", S),
)

ENCOUNTERS = _schema(
    ("patient_id", S), ("start", D), ("end", D),
    ("class", S),    # inpatient / emergency / ambulatory / virtual / home / other
    ("emergency", B), ("system", S), ("code", S), ("source_id", S),
)

TABLES: dict[str, T.StructType] = {
    "patients": PATIENTS,
    "practices": PRACTICES,
    "events": EVENTS,
    "medications": MEDICATIONS,
    "referrals": REFERRALS,
    "encounters": ENCOUNTERS,
}

# Columns that identify a person; never logged, dropped in pseudonymised outputs.
IDENTIFIABLE = ("nhs_number", "given_name", "family_name", "birth_date")
