"""What the FHIR views cannot say: from each view's rows to canonical rows, with a reason when not.

Each ``map_<type>`` takes the typed resources of one type (engine.ingest.fhir: one row per
resource with ``vrows``, the rows its view in conf/views gave, and ``v``, the first of them, which
holds the columns that are one per resource) and returns a *resolved* DataFrame: one row per
resource with ``source_file, resource_type, id, outcome, reason, json`` (json only for a quarantined
resource whose text was kept) and ``rows``, the canonical-table rows of an ingested resource. One
resource → one outcome, so the report's read = ingested + quarantined + skipped holds per type.

The steps here: dates and numbers read from their text (a quarantine reason when unreadable), code
systems normalised (engine.codes), one row per coding and status, and references resolved:
``Patient/<id>`` and absolute URLs ending ``Type/id`` by their last two segments, compared with the
patient ids by a broadcast join (no shuffle); ``urn:uuid:`` through the fullUrls of the same
file's Bundle(s) (only when Bundles were read); ``#id`` through ``contained``. A subject that is a
``urn:uuid:`` in a Bundle, matching no fullUrl there and no patient id, is quarantined as
``urn:uuid reference not in its Bundle`` (the Bundle lost an entry) rather than ``unknown patient``.

One resource id, one record (``mark_duplicates``): when a type/id occurs more than once, the copy
with the latest ``meta.lastUpdated`` is mapped; identical copies and older versions are skipped as
duplicates, and a different version that cannot be ordered (same or no lastUpdated) is quarantined.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine import schema
from engine.fhir_conventions import ENCOUNTER_CLASS
from engine.ingest import columns as C

TABLE_OF = {"Patient": "patients", "Condition": "events", "Observation": "events", "Procedure": "events",
            "MedicationRequest": "medications", "ServiceRequest": "referrals", "Encounter": "encounters"}

# Patient columns beyond the canonical ones, consumed by engine.ingest.canonical.
PATIENT_EXTRA = ("eth_ext_system", "eth_ext_code")

DUPLICATE_REASONS = (C.DUPLICATE_COPY, C.DUPLICATE_OLDER, C.DUPLICATE_CONFLICT)

# The typed resources every map_<type> reads (engine.ingest.fhir builds them).
TYPED = ("source_file", "bundle_key", "full_url", "depth", "resource_type", "id", "json", "unreadable",
         "last_updated", "text_hash", "text_length", "vrows")


ORG_LOOKUP = ("org_id string, bundle_key string, ods string, name string, part_of struct<reference: string, "
              "type: string, identifier: struct<value: string>, display: string>")
MED_LOOKUP = "med_id string, med_codings array<struct<system: string, code: string, display: string>>"


def table_schema_with_source(table: str) -> T.StructType:
    return T.StructType([T.StructField("source_file", T.StringType()), *schema.TABLES[table].fields])


def patient_table_schema() -> T.StructType:
    return T.StructType([*table_schema_with_source("patients").fields,
                         *[T.StructField(c, T.StringType()) for c in PATIENT_EXTRA]])


# --- helpers -----------------------------------------------------------------------------------

def v(name: str) -> Column:
    """A column of the view that is one per resource (read from its first row)."""
    return F.col("v").getField(name)


def with_first_row(df: DataFrame) -> DataFrame:
    return df.withColumn("v", F.try_element_at(F.col("vrows"), F.lit(1)))


def codings(rows: Column, system: str = "system", code: str = "code", display: str = "display") -> Column:
    """array<struct<system, code, display>> of the usable codings among the view's rows."""
    mapped = F.transform(rows, lambda r: F.struct(
        C.normalise_system(r.getField(system)).alias("system"),
        C.blank_to_null(r.getField(code)).alias("code"),
        r.getField(display).alias("display")))
    return F.filter(mapped, lambda c: c.getField("code").isNotNull())


def _mappable() -> Column:
    return F.col("id").isNotNull()


def has_duplicate_ids(typed: DataFrame) -> bool:
    return (typed.filter(_mappable()).groupBy("id").count()
            .filter(F.col("count") > 1).limit(1).count() > 0)


def mark_duplicates(typed: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(the one copy of each id to map, the other copies as resolved rows without ``rows``:
    skipped or quarantined).

    The winner: latest meta.lastUpdated (none is older than any), then the longest text (the most
    complete), then a hash of the text, so every run picks the same one.
    """
    ts = F.trim(F.col("last_updated")).try_cast("timestamp")
    w = Window.partitionBy("id").orderBy(F.col("_ts").desc_nulls_last(), F.col("text_length").desc(),
                                         F.col("text_hash").desc())
    c = (typed.filter(_mappable()).withColumn("_ts", ts)
         .withColumns({"_n": F.row_number().over(w), "_win_ts": F.first("_ts").over(w),
                       "_win_h": F.first("text_hash").over(w), "_win_len": F.first("text_length").over(w)}))
    copy = (F.col("text_hash") == F.col("_win_h")) & (F.col("text_length") == F.col("_win_len"))
    older = F.col("_win_ts").isNotNull() & (F.col("_ts").isNull() | (F.col("_ts") < F.col("_win_ts")))
    reason = F.when(copy, F.lit(C.DUPLICATE_COPY)).when(older, F.lit(C.DUPLICATE_OLDER)) \
              .otherwise(F.lit(C.DUPLICATE_CONFLICT))
    outcome = F.when(copy | older, F.lit("skipped")).otherwise(F.lit("quarantined"))
    keep = c.filter(F.col("_n") == 1).select(*typed.columns).unionByName(typed.filter(~_mappable()))
    losers = c.filter(F.col("_n") > 1).select(
        "source_file", "resource_type", "id", outcome.alias("outcome"), reason.alias("reason"),
        F.when(outcome == "quarantined", F.col("json")).alias("json"))
    return keep, losers


def url_index(records: DataFrame) -> DataFrame:
    """(bundle_key, full_url) → (t_type, t_id) for every used resource that came with a fullUrl
    (a duplicate's fullUrl included: its id is the id of the copy that is mapped)."""
    return (records.filter(F.col("full_url").isNotNull() & F.col("outcome").isNull())
            .select("bundle_key", F.trim("full_url").alias("full_url"),
                    F.col("resource_type").alias("t_type"), F.col("resource_id").alias("t_id"))
            .dropDuplicates(["bundle_key", "full_url"]))


def resolve(df: DataFrame, ref: Column, urls: DataFrame | None, prefix: str) -> DataFrame:
    """Add ``<prefix>_type`` and ``<prefix>_id``: the resource a Reference.reference points to, and
    ``<prefix>_in_bundle``: false for a urn: reference that matched no fullUrl of its Bundle.
    ``urls`` is None when no Bundle was read: then no reference can be a fullUrl, and nothing is joined."""
    if urls is None:
        return (df.withColumn(f"{prefix}_type", C.ref_type(ref))
                  .withColumn(f"{prefix}_id", F.coalesce(C.ref_id(ref), C.urn_tail(ref)))
                  .withColumn(f"{prefix}_in_bundle", ~F.coalesce(C.ref_is_urn(ref), F.lit(False))))
    key = F.when(C.ref_is_urn(ref), F.trim(ref))
    tmp = f"_{prefix}_key"
    u = urls.select(F.col("bundle_key").alias(f"_{prefix}_bk"), F.col("full_url").alias(f"_{prefix}_fu"),
                    F.col("t_type").alias(f"_{prefix}_tt"), F.col("t_id").alias(f"_{prefix}_ti"))
    df = df.withColumn(tmp, key)
    df = df.join(u, on=[F.col("bundle_key") == F.col(f"_{prefix}_bk"), F.col(tmp) == F.col(f"_{prefix}_fu")],
                 how="left")
    return (df.withColumn(f"{prefix}_type", F.coalesce(F.col(f"_{prefix}_tt"), C.ref_type(ref)))
              .withColumn(f"{prefix}_id", F.coalesce(F.col(f"_{prefix}_ti"), C.ref_id(ref), C.urn_tail(ref)))
              .withColumn(f"{prefix}_in_bundle", F.col(tmp).isNull() | F.col(f"_{prefix}_tt").isNotNull())
              .drop(tmp, f"_{prefix}_bk", f"_{prefix}_fu", f"_{prefix}_tt", f"_{prefix}_ti"))


def row(table: str, **cols: Column) -> Column:
    """A struct with exactly the canonical table's columns, in order, with its types."""
    fields = schema.TABLES[table].fields
    unknown = set(cols) - {f.name for f in fields}
    assert not unknown, unknown
    return F.struct(*[(cols[f.name] if f.name in cols else F.lit(None)).cast(f.dataType).alias(f.name)
                      for f in fields])


def _resolved(df: DataFrame, reason: Column, rows: Column, skip: Column | None = None) -> DataFrame:
    """The common output shape of every mapper."""
    skip = skip if skip is not None else F.lit(None).cast("string")
    df = df.withColumn("_reason", reason).withColumn("_skip", F.when(F.col("_reason").isNull(), skip))
    outcome = (F.when(F.col("_reason").isNotNull(), F.lit("quarantined"))
               .when(F.col("_skip").isNotNull(), F.lit("skipped")).otherwise(F.lit("ingested")))
    return df.select(
        "source_file", "resource_type", "id", outcome.alias("outcome"),
        F.coalesce(F.col("_reason"), F.col("_skip")).alias("reason"),
        F.when(F.col("_reason").isNotNull(), F.col("json")).alias("json"),
        # a resource's rows once each (a coding repeated in one resource gives one row)
        F.when(F.col("_reason").isNull() & F.col("_skip").isNull(), F.array_distinct(rows)).alias("rows"))


def _first(arr: Column, pred) -> Column:
    return F.try_element_at(F.filter(arr, pred), F.lit(1))


def _patient_subject(df: DataFrame, urls: DataFrame | None, patient_ids: DataFrame) -> DataFrame:
    """Resolve the view's ``subject`` to ``patient_id`` and say why not (``subject_reason``)."""
    ref = v("subject")
    df = resolve(df, ref, urls, "subj")
    known = F.broadcast(patient_ids.select(F.col("patient_id").alias("_known")))
    is_patient_ref = F.col("subj_type").isNull() | (F.col("subj_type") == "Patient")
    df = df.join(known, on=[(F.col("subj_id") == F.col("_known")) & is_patient_ref], how="left")
    has_ref = F.coalesce(F.trim(ref) != "", F.lit(False))
    dangling = (F.col("depth") > 0) & ~F.col("subj_in_bundle")
    return (df.withColumn("patient_id", F.col("_known"))
              .withColumn("subject_reason", C.first_reason(
                  (~has_ref, C.NO_SUBJECT),
                  (~is_patient_ref, C.SUBJECT_NOT_PATIENT),
                  (F.col("_known").isNull() & dangling, C.UNRESOLVED_REFERENCE),
                  (F.col("_known").isNull(), C.UNKNOWN_PATIENT)))
              .drop("_known"))


def _unreadable_or_no_id() -> tuple[tuple[Column, str], ...]:
    return (F.col("unreadable"), C.SCHEMA_MISMATCH), (F.col("id").isNull(), C.NO_ID)


def _reason(*more: tuple[Column, str]) -> Column:
    r = C.first_reason(*_unreadable_or_no_id(), (F.col("subject_reason").isNotNull(), "__subject__"), *more)
    return F.when(r == "__subject__", F.col("subject_reason")).otherwise(r)


def with_dates(df: DataFrame, *names: str) -> DataFrame:
    """Each of the view's date columns ``names`` read once into ``_d_<name>`` (engine.ingest.columns
    .parse_date), and ``_bad_date``: one of them is written but is not a date. Read once because the
    date text is the costliest thing a mapper reads (a regular expression and a calendar check)."""
    df = df.withColumns({f"_d_{n}": C.parse_date(v(n)) for n in names})
    bad = F.lit(False)
    for n in names:
        bad = bad | (F.coalesce(F.trim(v(n)) != "", F.lit(False)) & F.col(f"_d_{n}").isNull())
    return df.withColumn("_bad_date", bad)


def d(name: str) -> Column:
    """A date column read by ``with_dates``."""
    return F.col(f"_d_{name}")


def source_id(rtype: str) -> Column:
    return F.concat(F.lit(rtype + "/"), F.col("id"))


# --- lookups -----------------------------------------------------------------------------------

def organizations(typed: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(resolved, lookup). lookup: org_id, bundle_key, ods, name, part_of (Reference), one row per id."""
    t = with_first_row(typed)
    resolved = _resolved(t, C.first_reason(*_unreadable_or_no_id()), F.array())
    part_of = F.when(v("part_of").isNotNull() | v("part_of_type").isNotNull() | v("part_of_identifier").isNotNull()
                     | v("part_of_display").isNotNull(),
                     F.struct(v("part_of").alias("reference"), v("part_of_type").alias("type"),
                              F.struct(v("part_of_identifier").alias("value")).alias("identifier"),
                              v("part_of_display").alias("display")))
    lookup = (t.filter(~F.col("unreadable") & F.col("id").isNotNull())
              .select(F.col("id").alias("org_id"), "bundle_key", F.trim(v("ods")).alias("ods"),
                      v("name").alias("name"), part_of.alias("part_of"))
              .groupBy("org_id").agg(*[F.max(c).alias(c) for c in ("bundle_key", "ods", "name", "part_of")]))
    return resolved, lookup


def medications(typed: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(resolved, lookup). lookup: med_id, med_codings."""
    t = with_first_row(typed)
    resolved = _resolved(t, C.first_reason(*_unreadable_or_no_id()), F.array())
    lookup = (t.filter(~F.col("unreadable") & F.col("id").isNotNull())
              .select(F.col("id").alias("med_id"), codings(F.col("vrows")).alias("med_codings"))
              .groupBy("med_id").agg(F.max("med_codings").alias("med_codings")))
    return resolved, lookup


# --- Patient -----------------------------------------------------------------------------------

def _org_candidate(df: DataFrame, ref_struct: str, prefix: str, urls: DataFrame | None, orgs: DataFrame) -> DataFrame:
    """``<prefix>_practice``: the practice id a Reference(Organization) gives (ODS code of the
    Organization, else its id, else the identifier on the reference, else the referenced id)."""
    ref = F.col(f"{ref_struct}.reference")
    df = resolve(df, ref, urls, prefix)
    o = F.broadcast(orgs.select(F.col("org_id").alias(f"_{prefix}_oid"), F.col("ods").alias(f"_{prefix}_ods")))
    df = df.join(o, on=F.col(f"{prefix}_id") == F.col(f"_{prefix}_oid"), how="left")
    ident = C.blank_to_null(F.col(f"{ref_struct}.identifier"))
    rtype = F.coalesce(F.col(f"{prefix}_type"), F.col(f"{ref_struct}.type"))
    is_org = ((rtype == "Organization") | F.col(f"_{prefix}_oid").isNotNull()
              | (rtype.isNull() & ident.isNotNull()))
    practice = F.when(is_org, F.coalesce(F.col(f"_{prefix}_ods"), F.col(f"_{prefix}_oid"), ident, F.col(f"{prefix}_id")))
    return df.withColumn(f"{prefix}_practice", practice).drop(f"_{prefix}_oid", f"_{prefix}_ods", f"{prefix}_type",
                                                              f"{prefix}_id", f"{prefix}_in_bundle")


def map_patients(typed: DataFrame, urls: DataFrame | None, orgs: DataFrame) -> DataFrame:
    t = with_first_row(typed)
    not_person = lambda g: (g.getField("gp_reference").isNotNull() | g.getField("gp_type").isNotNull()
                            | g.getField("gp_identifier").isNotNull()) & ~(
        F.coalesce(C.ref_type(g.getField("gp_reference")), g.getField("gp_type"), F.lit("")).isin(
            "Practitioner", "PractitionerRole"))
    gp = _first(F.col("vrows"), not_person)
    t = t.withColumn("gp_ref", F.struct(gp.getField("gp_reference").alias("reference"),
                                        gp.getField("gp_type").alias("type"),
                                        gp.getField("gp_identifier").alias("identifier")))
    t = t.withColumn("mo_ref", F.struct(v("managing_organization").alias("reference"),
                                        v("managing_organization_type").alias("type"),
                                        v("managing_organization_identifier").alias("identifier")))
    t = _org_candidate(t, "gp_ref", "gp", urls, orgs)
    t = _org_candidate(t, "mo_ref", "mo", urls, orgs)

    nhs_digits = C.blank_to_null(F.regexp_replace(v("nhs_number"), r"[^0-9]", ""))
    care_flags = F.transform(F.coalesce(v("care_home_flags"), F.array()), C.parse_bool)
    dead_dt = v("deceased_date_time")
    eth_code = C.blank_to_null(v("ethnicity_code"))
    t = with_dates(t, "birth_date", "deceased_date_time", "registration_start", "registration_end")
    # LSOA and care-home flags are the current address's (CLINICAL_RULES §2): the view picks it (use
    # not 'old', no period.end; a 'home' one first), so an old care-home address never flags.
    t = t.withColumns({
        "_nhs": nhs_digits, "_lsoa": F.trim(F.coalesce(v("lsoa_string"), v("lsoa_code"))),
        "_care": F.when(F.exists(care_flags, lambda b: b), F.lit(True)).when(F.exists(care_flags, lambda b: ~b),
                                                                              F.lit(False)),
        "_deceased": F.coalesce(C.parse_bool(v("deceased_boolean")) | C.blank_to_null(dead_dt).isNotNull(),
                                F.lit(False)),
    })
    rows = F.array(F.struct(
        row("patients",
            patient_id=F.col("id"), nhs_number=F.col("_nhs"),
            given_name=C.blank_to_null(v("given_names")), family_name=v("family_name"), birth_date=d("birth_date"),
            sex=F.lower(F.trim(v("gender"))), death_date=d("deceased_date_time"), deceased=F.col("_deceased"),
            lsoa_code=F.col("_lsoa"), practice_id=F.coalesce(F.col("gp_practice"), F.col("mo_practice")),
            registration_start=d("registration_start"), registration_end=d("registration_end"),
            address_care_home=F.col("_care")).alias("p"),
        F.when(eth_code.isNotNull(), C.normalise_system(v("ethnicity_system"))).alias("eth_ext_system"),
        eth_code.alias("eth_ext_code")))
    reason = C.first_reason(*_unreadable_or_no_id(), (F.col("_bad_date"), C.BAD_DATE))
    return _resolved(t, reason, rows)


def patient_table(resolved_patients: DataFrame) -> DataFrame:
    """Canonical patient columns + PATIENT_EXTRA + source_file, one row per ingested Patient."""
    return (resolved_patients.filter(F.col("outcome") == "ingested")
            .select("source_file", F.explode("rows").alias("x"))
            .select("source_file", "x.p.*", "x.eth_ext_system", "x.eth_ext_code"))


def practice_table(patients: DataFrame, orgs: DataFrame, urls: DataFrame | None) -> DataFrame:
    """practice_id, practice_name, pcn_id, pcn_name for every practice a patient is registered at."""
    keyed = orgs.select(F.coalesce("ods", "org_id").alias("practice_id"), "org_id", "bundle_key", "name",
                        "part_of").groupBy("practice_id").agg(F.max(F.struct("org_id", "bundle_key", "name",
                                                                                "part_of")).alias("o"))
    ids = patients.select("practice_id").where(F.col("practice_id").isNotNull()).distinct()
    df = ids.join(keyed, "practice_id", "left").select("practice_id", "o.*")
    df = resolve(df, F.col("part_of.reference"), urls, "pcn")
    pcn = orgs.select(F.col("org_id").alias("_pcn_oid"), F.col("ods").alias("_pcn_ods"), F.col("name").alias("_pcn_name"))
    df = df.join(pcn, on=F.col("pcn_id") == F.col("_pcn_oid"), how="left")
    has_parent = F.col("part_of").isNotNull()
    return df.select(
        "practice_id", F.col("name").alias("practice_name"),
        F.when(has_parent, F.coalesce("_pcn_ods", "_pcn_oid", C.blank_to_null(F.col("part_of.identifier.value")),
                                      "pcn_id")).alias("pcn_id"),
        F.when(has_parent, F.coalesce("_pcn_name", "part_of.display")).alias("pcn_name"))


# --- clinical resources ------------------------------------------------------------------------

def _clinical(typed: DataFrame, urls: DataFrame | None, patient_ids: DataFrame) -> DataFrame:
    return _patient_subject(with_first_row(typed), urls, patient_ids)


def map_conditions(typed, urls, patient_ids) -> DataFrame:
    t = with_dates(_clinical(typed, urls, patient_ids), "onset_date_time", "onset_period_start", "recorded_date",
                   "abatement_date_time", "abatement_period_start")
    t = t.withColumns({
        "_codes": codings(F.col("vrows")),
        "_onset": F.coalesce(d("onset_date_time"), d("onset_period_start"), d("recorded_date")),
        "_recorded": d("recorded_date"),
        "_abatement": F.coalesce(d("abatement_date_time"), d("abatement_period_start")),
        "_clinical": F.lower(F.trim(v("clinical_status"))),
        "_verification": F.lower(F.trim(v("verification_status"))),
    })
    onset, verification = F.col("_onset"), F.col("_verification")
    excluded = verification.isin("refuted", "entered-in-error")
    resolved_flag = F.col("_clinical").isin("inactive", "resolved", "remission") | F.col("_abatement").isNotNull()
    st = lambda d, s: F.struct(d.alias("d"), s.alias("s"))
    statuses = (F.when(excluded, F.array(st(onset, verification)))
                .when(resolved_flag, F.array(st(onset, F.lit("active")),
                                             st(F.coalesce("_abatement", "_recorded", "_onset"), F.lit("resolved"))))
                .otherwise(F.array(st(onset, F.lit("active")))))
    rows = F.flatten(F.transform(statuses, lambda s: F.transform(F.col("_codes"), lambda c: row(
        "events", patient_id=F.col("patient_id"), date=s.getField("d"), system=c.getField("system"),
        code=c.getField("code"), display=c.getField("display"), kind=F.lit("condition"),
        status=s.getField("s"), source_id=source_id("Condition")))))
    reason = _reason((F.size("_codes") == 0, C.NO_CODE), (F.col("_bad_date"), C.BAD_DATE),
                     (onset.isNull(), C.NO_DATE))
    return _resolved(t, reason, rows)


def map_observations(typed, urls, patient_ids) -> DataFrame:
    dates = ("effective_date_time", "effective_period_start", "effective_instant", "issued")
    t = with_dates(_clinical(typed, urls, patient_ids), *dates)
    items = F.filter(F.transform(F.col("vrows"), lambda r: F.struct(
        C.normalise_system(r.getField("system")).alias("system"), C.blank_to_null(r.getField("code")).alias("code"),
        r.getField("display").alias("display"), C.parse_double(r.getField("value")).alias("value"),
        F.coalesce(C.blank_to_null(r.getField("unit")), C.blank_to_null(r.getField("unit_code"))).alias("unit"))),
        lambda i: i.getField("code").isNotNull())
    t = t.withColumns({
        "_date": F.coalesce(*[d(n) for n in dates]),
        "_items": items,
        "_bad_num": F.exists(F.col("vrows"), lambda r: C.bad_number(r.getField("value"))),
        "_status": F.when(F.lower(v("status")).isin("entered-in-error", "cancelled"),
                          F.lit("entered-in-error")).otherwise(F.lit("active")),
    })
    rows = F.transform(F.col("_items"), lambda i: row(
        "events", patient_id=F.col("patient_id"), date=F.col("_date"), system=i.getField("system"),
        code=i.getField("code"), display=i.getField("display"), value=i.getField("value"), unit=i.getField("unit"),
        kind=F.lit("observation"), status=F.col("_status"), source_id=source_id("Observation")))
    reason = _reason((F.size("_items") == 0, C.NO_CODE), (F.col("_bad_date"), C.BAD_DATE),
                     (F.col("_date").isNull(), C.NO_DATE), (F.col("_bad_num"), C.BAD_NUMBER))
    return _resolved(t, reason, rows)


def map_procedures(typed, urls, patient_ids) -> DataFrame:
    t = with_dates(_clinical(typed, urls, patient_ids), "performed_date_time", "performed_period_start")
    st = F.lower(v("status"))
    t = t.withColumns({
        "_date": F.coalesce(d("performed_date_time"), d("performed_period_start")),
        "_codes": codings(F.col("vrows")),
        "_status": (F.when(st == "not-done", F.lit("refuted")).when(st == "entered-in-error", F.lit("entered-in-error"))
                    .otherwise(F.lit("active"))),
    })
    rows = F.transform(F.col("_codes"), lambda c: row(
        "events", patient_id=F.col("patient_id"), date=F.col("_date"), system=c.getField("system"),
        code=c.getField("code"), display=c.getField("display"), kind=F.lit("procedure"), status=F.col("_status"),
        source_id=source_id("Procedure")))
    reason = _reason((F.size("_codes") == 0, C.NO_CODE), (F.col("_bad_date"), C.BAD_DATE),
                     (F.col("_date").isNull(), C.NO_DATE))
    return _resolved(t, reason, rows)


_CONTAINED_MED = "struct<resourceType: string, id: string, code: struct<coding: array<struct<system: string, " \
                 "code: string, display: string>>>>"


ISSUE_INTENTS = ("order", "original-order", "instance-order", "filler-order")
CONTINUOUS = ("continuous", "continuous-repeat-dispensing")
_DAYS_PER = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30, "month": 30, "months": 30}


def medication_kind(intent: Column, status: Column, course: Column, repeats: Column) -> Column:
    """CLINICAL_RULES §0: an authorisation is a plan, a continuous course, a request with repeats
    allowed, or one still active (Synthea writes one long-lived active order per medicine); else an
    issue when its intent is an order (or not given); anything else (a proposal, an option) is
    neither and is never counted."""
    continuous = F.exists(F.coalesce(course, F.array()), lambda c: F.lower(F.trim(c)).isin(*CONTINUOUS))
    authorisation = (F.coalesce(intent == "plan", F.lit(False)) | continuous
                     | F.coalesce(repeats > 0, F.lit(False)) | F.coalesce(status == "active", F.lit(False)))
    issue = intent.isNull() | (intent == "") | intent.isin(*ISSUE_INTENTS)
    return (F.when(authorisation, F.lit("authorisation")).when(issue, F.lit("issue")).otherwise(F.lit("other")))


def supply_days(value: Column, unit: Column) -> Column:
    """dispenseRequest.expectedSupplyDuration in whole days; null when absent or in a unit other than
    days, weeks or months (a month counted as 30 days), so the 28-day default applies."""
    per = F.try_element_at(F.create_map(*[F.lit(x) for kv in _DAYS_PER.items() for x in kv]), F.lower(F.trim(unit)))
    days = F.round(value * per).cast("int")
    return F.when(days > 0, days)


def map_medication_requests(typed, urls, patient_ids, meds: DataFrame) -> DataFrame:
    t = _clinical(typed, urls, patient_ids)
    mref = v("medication_reference")
    # contained Medication ("#id"): parse only the contained resources of requests that point inside.
    t = t.withColumn("_local", F.when(F.trim(mref).startswith("#"), F.substring(F.trim(mref), 2, 1 << 20)))
    contained = F.when(F.col("_local").isNotNull(), F.transform(F.coalesce(v("contained"), F.array()),
                                                                lambda c: F.from_json(c, _CONTAINED_MED)))
    cmed = _first(F.coalesce(contained, F.array()), lambda m: m.getField("id") == F.col("_local"))
    t = t.withColumn("_cmed_codes", codings(F.coalesce(cmed.getField("code").getField("coding"), F.array())))
    # a Medication resource elsewhere in the data (Medication/<id>, urn:uuid:<id>)
    t = resolve(t, F.when(F.col("_local").isNull(), mref), urls, "med")
    m = F.broadcast(meds.select(F.col("med_id").alias("_mid"), "med_codings"))
    t = t.join(m, on=(F.col("med_id") == F.col("_mid"))
               & F.coalesce(F.col("med_type") == "Medication", F.lit(True)), how="left")
    nonempty = lambda a: F.when(F.size(a) > 0, a)
    own = codings(F.col("vrows"))
    qty = v("quantity")
    t = with_dates(t, "authored_on", "validity_start", "validity_end")
    kind = medication_kind(F.lower(F.trim(v("intent"))), F.lower(F.trim(v("status"))), v("course_of_therapy"),
                           C.parse_double(v("repeats_allowed")))
    t = t.withColumns({
        "_codes": F.coalesce(nonempty(own), nonempty(F.col("_cmed_codes")), nonempty(F.col("med_codings")),
                             F.array()),
        "_kind": kind,
        "_end": d("validity_end"),
        "_qty": C.parse_double(qty),
        "_supply": supply_days(C.parse_double(v("supply_value")), F.coalesce(v("supply_code"), v("supply_unit"))),
        "_bad_num": C.bad_number(qty) | C.bad_number(v("repeats_allowed")) | C.bad_number(v("supply_value")),
    })
    # An issue is dated when it was issued: authoredOn, else the start of the prescription's validity
    # (EPS messages carry no authoredOn). An authorisation covers from its validity start (§0).
    t = t.withColumn("_date", F.when(F.col("_kind") == "authorisation",
                                     F.coalesce(d("validity_start"), d("authored_on")))
                     .otherwise(F.coalesce(d("authored_on"), d("validity_start"))))
    rows = F.transform(F.col("_codes"), lambda c: row(
        "medications", patient_id=F.col("patient_id"), date=F.col("_date"), end_date=F.col("_end"),
        system=c.getField("system"), code=c.getField("code"), display=c.getField("display"),
        status=F.lower(v("status")), quantity=F.col("_qty"), source_id=source_id("MedicationRequest"),
        kind=F.col("_kind"), supply_days=F.col("_supply")))
    reason = _reason((F.size("_codes") == 0, C.NO_CODE), (F.col("_bad_date"), C.BAD_DATE),
                     (F.col("_date").isNull(), C.NO_DATE), (F.col("_bad_num"), C.BAD_NUMBER))
    return _resolved(t, reason, rows)


def map_service_requests(typed, urls, patient_ids) -> DataFrame:
    t = with_dates(_clinical(typed, urls, patient_ids), "authored_on", "occurrence_date_time",
                   "occurrence_period_start")
    t = t.withColumns({
        "_date": F.coalesce(d("authored_on"), d("occurrence_date_time"), d("occurrence_period_start")),
        "_codes": codings(F.col("vrows")),
    })
    rows = F.transform(F.col("_codes"), lambda c: row(
        "referrals", patient_id=F.col("patient_id"), date=F.col("_date"), system=c.getField("system"),
        code=c.getField("code"), display=c.getField("display"), priority=F.lower(v("priority")),
        status=F.lower(v("status")), source_id=source_id("ServiceRequest")))
    reason = _reason((F.size("_codes") == 0, C.NO_CODE), (F.col("_bad_date"), C.BAD_DATE),
                     (F.col("_date").isNull(), C.NO_DATE))
    return _resolved(t, reason, rows)


def referral_outcomes(typed_encounters: DataFrame, urls: DataFrame | None, patient_ids: DataFrame) -> DataFrame:
    """source_id of a ServiceRequest → outcome_date: the start of the earliest finished Encounter
    whose basedOn names it. This is how a referral's outcome reaches the canonical record; the
    request's own status is not evidence (GP Connect returns "unknown")."""
    t = _clinical(typed_encounters, urls, patient_ids).where(
        F.col("patient_id").isNotNull() & (F.lower(v("status")) == "finished"))
    t = t.select("bundle_key", C.parse_date(v("period_start")).alias("_start"),
                 F.explode(v("based_on")).alias("_based_on"))
    t = resolve(t.where(F.col("_start").isNotNull()), F.col("_based_on"), urls, "req")
    return (t.where(F.col("req_type").isNull() | (F.col("req_type") == "ServiceRequest"))
            .groupBy(F.concat(F.lit("ServiceRequest/"), F.col("req_id")).alias("source_id"))
            .agg(F.min("_start").alias("_linked_outcome")))


def encounter_class(code: Column) -> Column:
    m = F.create_map(*[F.lit(x) for k, v_ in sorted(ENCOUNTER_CLASS.items()) for x in (k, v_)])
    return F.coalesce(F.try_element_at(m, F.upper(F.trim(code))), F.lit("other"))


def map_encounters(typed, urls, patient_ids) -> DataFrame:
    t = with_dates(_clinical(typed, urls, patient_ids), "period_start", "period_end")
    codes = codings(F.col("vrows"))
    none = F.array(F.struct(*[F.lit(None).cast("string").alias(n) for n in ("system", "code", "display")]))
    t = t.withColumns({
        "_start": d("period_start"),
        "_end": d("period_end"),
        "_class": encounter_class(v("class_code")),
        "_codes": F.when(F.size(codes) > 0, codes).otherwise(none),
    })
    rows = F.transform(F.col("_codes"), lambda c: row(
        "encounters", patient_id=F.col("patient_id"), start=F.col("_start"), end=F.col("_end"),
        **{"class": F.col("_class")}, emergency=F.col("_class") == "emergency", system=c.getField("system"),
        code=c.getField("code"), source_id=source_id("Encounter")))
    reason = _reason((F.col("_bad_date"), C.BAD_DATE), (F.col("_start").isNull(), C.NO_DATE))
    skip = F.when(F.lower(v("status")).isin("entered-in-error", "cancelled"), F.lit(C.NOT_RECORDED))
    return _resolved(t, reason, rows, skip)
