"""Column expressions shared by every reader: dates, code systems, numbers, references.

All of them are Spark built-ins (no Python UDFs), so they run in the JVM next to the data.
"""
from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from engine.codes import alias_pairs

# Fixed quarantine / skip reasons (short strings; the report counts by them).
INVALID_JSON = "invalid JSON"
NO_RESOURCE_TYPE = "no resourceType"
ENTRY_WITHOUT_RESOURCE = "entry without resource"
NESTED_TOO_DEEP = "bundle nested too deep"
SCHEMA_MISMATCH = "unreadable resource"
NO_ID = "no id"
NO_SUBJECT = "no subject"
SUBJECT_NOT_PATIENT = "subject not a patient"
UNKNOWN_PATIENT = "unknown patient"
NO_PATIENT_ID = "no patient id"
NO_CODE = "no code"
NO_DATE = "no date"
BAD_DATE = "bad date"
BAD_NUMBER = "bad number"
BAD_VALUE = "bad value"
NO_PRACTICE_ID = "no practice id"
DUPLICATE_ID = "duplicate id"
# FHIR: two different versions of one resource with nothing (meta.lastUpdated) to tell which is current.
DUPLICATE_CONFLICT = "duplicate id, same or no meta.lastUpdated"
UNRESOLVED_REFERENCE = "urn:uuid reference not in its Bundle"
# A whole file Spark cannot decompress or read; its one quarantine row names it.
NOT_GZIP = "file named .gz is not gzip (not read)"
UNREADABLE_FILE = "corrupt or truncated file (not read)"

# Skip reasons (not errors: the record is understood and deliberately not used).
TYPE_NOT_USED = "resource type not used"
EXPORT_LOG = "bulk export log line"
DUPLICATE_COPY = "duplicate id, identical copy"
DUPLICATE_OLDER = "duplicate id, older meta.lastUpdated"
NOT_RECORDED = "entered-in-error or cancelled"
# GP-extract CSV records that cannot be split into the header's columns (quarantined).
WRONG_FIELD_COUNT = "wrong number of fields"
BAD_CSV_RECORD = "unreadable CSV record"

def parse_date(col: Column) -> Column:
    """The calendar date written in a FHIR date/dateTime/instant or an ISO extract cell.

    ``YYYY-MM-DD...`` → that date (the first 10 characters, time and zone ignored); ``YYYY-MM`` → the
    1st of the month; ``YYYY`` → 1 January. Anything else (or an impossible date) → null.
    """
    s = F.regexp_extract(F.trim(col), r"^(\d{4}(-\d{2}(-\d{2})?)?)(?=$|[T ])", 1)
    # pad YYYY → YYYY-01-01 and YYYY-MM → YYYY-MM-01; try_to_date gives null for 2023-02-30
    padded = F.concat(s, F.substring(F.lit("-01-01"), F.length(s) - 3, 6))
    return F.when(s != "", F.try_to_date(padded, "yyyy-MM-dd"))


def bad_date(col: Column) -> Column:
    """True when a date cell is present (non-blank) but not a readable date."""
    return F.coalesce(F.trim(col) != "", F.lit(False)) & parse_date(col).isNull()


def parse_double(col: Column) -> Column:
    return F.trim(col).try_cast("double")


def bad_number(col: Column) -> Column:
    return F.coalesce(F.trim(col) != "", F.lit(False)) & parse_double(col).isNull()


def blank_to_null(col: Column) -> Column:
    t = F.trim(col)
    return F.when(t != "", t)


def _system_map() -> Column:
    return F.create_map(*[F.lit(x) for pair in alias_pairs() for x in (pair[0].lower(), pair[1])])


def normalise_system(col: Column) -> Column:
    """engine.codes.normalise_system as a column expression (same alias table)."""
    key = F.regexp_replace(F.trim(col), "/+$", "")
    key = F.when(key != "", key)
    return F.coalesce(F.try_element_at(_system_map(), F.lower(key)), key)


def parse_bool(col: Column) -> Column:
    v = F.lower(F.trim(col))
    return (F.when(v.isin("true", "t", "yes", "y", "1"), F.lit(True))
            .when(v.isin("false", "f", "no", "n", "0"), F.lit(False)))


def bad_bool(col: Column) -> Column:
    return F.coalesce(F.trim(col) != "", F.lit(False)) & parse_bool(col).isNull()


def first_reason(*checks: tuple[Column, str]) -> Column:
    """The reason of the first check that holds (null when none does)."""
    expr = None
    for cond, reason in checks:
        expr = F.when(cond, F.lit(reason)) if expr is None else expr.when(cond, F.lit(reason))
    return expr


# --- FHIR references -------------------------------------------------------------------------

_TYPE_ID_RE = r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-\.]{1,64})$"


def ref_literal(ref: Column) -> Column:
    """A reference string with whitespace trimmed and any ``/_history/<v>`` suffix removed."""
    return F.regexp_replace(F.trim(ref), r"/_history/[^/]*$", "")


def ref_is_urn(ref: Column) -> Column:
    return F.lower(F.trim(ref)).startswith("urn:")


def ref_type(ref: Column) -> Column:
    """``Patient`` for ``Patient/1``, ``http://x/fhir/Patient/1`` (null for urn:, #contained, searches)."""
    v = F.regexp_extract(ref_literal(ref), _TYPE_ID_RE, 1)
    return F.when(v != "", v)


def ref_id(ref: Column) -> Column:
    v = F.regexp_extract(ref_literal(ref), _TYPE_ID_RE, 2)
    return F.when(v != "", v)


def urn_tail(ref: Column) -> Column:
    """``abc`` for ``urn:uuid:abc`` / ``urn:oid:abc``."""
    v = F.regexp_extract(F.trim(ref), r"^(?i)urn:(?:uuid|oid):(.+)$", 1)
    return F.when(v != "", v)


def id_from_full_url(full_url: Column) -> Column:
    """The logical id a fullUrl implies (uuid of a urn, last path segment of a URL)."""
    return F.coalesce(urn_tail(full_url), ref_id(full_url))


def codings(cc: Column) -> Column:
    """array<struct<system, code, display>> of a CodeableConcept's usable codings."""
    arr = F.coalesce(cc.getField("coding"), F.array())
    mapped = F.transform(arr, lambda c: F.struct(
        normalise_system(c.getField("system")).alias("system"),
        blank_to_null(c.getField("code")).alias("code"),
        c.getField("display").alias("display")))
    return F.filter(mapped, lambda c: c.getField("code").isNotNull())


def first_code(cc: Column) -> Column:
    """The first non-empty code of a CodeableConcept (lower-cased), e.g. a clinicalStatus."""
    codes = F.filter(F.transform(F.coalesce(cc.getField("coding"), F.array()),
                                 lambda c: F.lower(F.trim(c.getField("code")))),
                     lambda c: c.isNotNull() & (c != ""))
    return F.try_element_at(codes, F.lit(1))
