"""FHIR resources → canonical rows, by the mapping rules in the engine/schema.py docstring.

Each ``map_<type>`` takes the classified records (engine.ingest.fhir_text) and returns a
*resolved* DataFrame: one row per resource with ``source_file, resource_type, outcome, reason,
json`` (json kept only for quarantined resources) and ``rows``, an array of canonical-table rows
for an ingested resource. One resource → one outcome, so the report's
read = ingested + quarantined + skipped holds per type by construction.

References are resolved with joins, never Python: ``Patient/<id>`` and absolute URLs ending in
``Type/id`` by their last two segments; ``urn:uuid:`` through the fullUrls of the same file's
Bundle(s) (falling back to the uuid itself); ``#id`` through ``contained``. A subject that is a
``urn:uuid:`` in a Bundle, matching no fullUrl there and no patient id, is quarantined as
``urn:uuid reference not in its Bundle`` (the Bundle lost an entry) rather than ``unknown patient``.

One resource id, one record (``mark_duplicates``): when a type/id occurs more than once, the copy
with the latest ``meta.lastUpdated`` is mapped; identical copies and older versions are skipped as
duplicates, and a different version that cannot be ordered (same or no lastUpdated) is quarantined.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from engine import schema
from engine.fhir_conventions import (CARE_HOME_EXTENSION, ENCOUNTER_CLASS, LSOA_EXTENSION, NHS_NUMBER_SYSTEM,
                                     ODS_SYSTEM, REGISTRATION_EXTENSION, UKCORE_ETHNICITY_EXTENSION)
from engine.ingest import columns as C
from engine.ingest.fhir_schemas import SCHEMAS, struct, S, CODEABLE

TABLE_OF = {"Patient": "patients", "Condition": "events", "Observation": "events", "Procedure": "events",
            "MedicationRequest": "medications", "ServiceRequest": "referrals", "Encounter": "encounters"}

NHS_SYSTEMS = (NHS_NUMBER_SYSTEM, "http://fhir.nhs.net/Id/nhs-number", "https://fhir.nhs.uk/Id/nhs-number/")
ODS_SYSTEMS = (ODS_SYSTEM, "http://fhir.nhs.net/Id/ods-organization-code")

# Patient columns beyond the canonical ones, consumed by engine.ingest.canonical.
PATIENT_EXTRA = ("eth_ext_system", "eth_ext_code")


# --- helpers -----------------------------------------------------------------------------------

DUPLICATE_REASONS = (C.DUPLICATE_COPY, C.DUPLICATE_OLDER, C.DUPLICATE_CONFLICT)


def typed(records: DataFrame, rtype: str) -> DataFrame:
    """The resources of one type still to be mapped, parsed with that type's explicit schema."""
    return (records.filter((F.col("resource_type") == rtype) & F.col("outcome").isNull())
            .select("source_file", "bundle_key", "full_url", "depth", "resource_type",
                    F.col("resource_id").alias("id"), "json",
                    F.from_json("json", SCHEMAS[rtype]).alias("r")))


def _mappable() -> Column:
    return F.col("outcome").isNull() & F.col("resource_id").isNotNull()


def has_duplicate_ids(records: DataFrame) -> bool:
    return (records.filter(_mappable()).groupBy("resource_type", "resource_id").count()
            .filter(F.col("count") > 1).limit(1).count() > 0)


def mark_duplicates(records: DataFrame) -> DataFrame:
    """Records with one outcome per duplicated resource_type/resource_id decided (see module doc).

    The winner: latest meta.lastUpdated (none is older than any), then the longest text (the most
    complete), then a hash of the text, so every run picks the same one. Only mappable records are
    shuffled; the rest pass through untouched.
    """
    ts = F.trim(F.col("last_updated")).try_cast("timestamp")
    h = F.xxhash64("json")
    w = Window.partitionBy("resource_type", "resource_id").orderBy(
        F.col("_ts").desc_nulls_last(), F.length("json").desc(), F.col("_h").desc())
    c = (records.filter(_mappable()).withColumns({"_ts": ts, "_h": h})
         .withColumns({"_n": F.row_number().over(w), "_win_ts": F.first("_ts").over(w),
                       "_win_h": F.first("_h").over(w), "_win_len": F.first(F.length("json")).over(w)}))
    copy = (F.col("_h") == F.col("_win_h")) & (F.length("json") == F.col("_win_len"))
    older = F.col("_win_ts").isNotNull() & (F.col("_ts").isNull() | (F.col("_ts") < F.col("_win_ts")))
    reason = F.when(copy, F.lit(C.DUPLICATE_COPY)).when(older, F.lit(C.DUPLICATE_OLDER)) \
              .otherwise(F.lit(C.DUPLICATE_CONFLICT))
    outcome = F.when(copy | older, F.lit("skipped")).otherwise(F.lit("quarantined"))
    cols = records.columns
    decided = (c.withColumn("outcome", F.when(F.col("_n") > 1, outcome))
                .withColumn("reason", F.when(F.col("_n") > 1, reason)).select(*cols))
    return records.filter(~_mappable()).unionByName(decided)


def url_index(records: DataFrame) -> DataFrame:
    """(bundle_key, full_url) → (t_type, t_id) for every used resource that came with a fullUrl
    (a duplicate's fullUrl included: its id is the id of the copy that is mapped)."""
    usable = F.col("outcome").isNull() | F.col("reason").isin(*DUPLICATE_REASONS)
    return (records.filter(F.col("full_url").isNotNull() & usable)
            .select("bundle_key", F.trim("full_url").alias("full_url"),
                    F.col("resource_type").alias("t_type"), F.col("resource_id").alias("t_id"))
            .dropDuplicates(["bundle_key", "full_url"]))


def resolve(df: DataFrame, ref: Column, urls: DataFrame, prefix: str) -> DataFrame:
    """Add ``<prefix>_type`` and ``<prefix>_id``: the resource a Reference.reference points to, and
    ``<prefix>_in_bundle``: false for a urn: reference that matched no fullUrl of its Bundle."""
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
        "source_file", "resource_type", outcome.alias("outcome"),
        F.coalesce(F.col("_reason"), F.col("_skip")).alias("reason"),
        F.when(F.col("_reason").isNotNull(), F.col("json")).alias("json"),
        F.when(F.col("_reason").isNull() & F.col("_skip").isNull(), rows).alias("rows"))


def _first(arr: Column, pred) -> Column:
    return F.try_element_at(F.filter(arr, pred), F.lit(1))


def _patient_subject(df: DataFrame, urls: DataFrame, patient_ids: DataFrame) -> DataFrame:
    """Resolve ``r.subject`` to ``patient_id`` and say why not (``subject_reason``)."""
    ref = F.col("r.subject.reference")
    df = resolve(df, ref, urls, "subj")
    known = patient_ids.select(F.col("patient_id").alias("_known"))
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


def _base_reason(*more: tuple[Column, str]) -> Column:
    return C.first_reason((F.col("r").isNull(), C.SCHEMA_MISMATCH), (F.col("id").isNull(), C.NO_ID),
                          (F.col("subject_reason").isNotNull(), "__subject__"), *more)


def _reason(*more: tuple[Column, str]) -> Column:
    r = _base_reason(*more)
    return F.when(r == "__subject__", F.col("subject_reason")).otherwise(r)


def _any_bad_date(*cols: Column) -> Column:
    out = F.lit(False)
    for c in cols:
        out = out | C.bad_date(c)
    return out


def source_id(rtype: str) -> Column:
    return F.concat(F.lit(rtype + "/"), F.col("id"))


# --- lookups -----------------------------------------------------------------------------------

def organizations(records: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(resolved, lookup). lookup: org_id, bundle_key, ods, name, part_of (Reference), one row per id."""
    t = typed(records, "Organization")
    reason = C.first_reason((F.col("r").isNull(), C.SCHEMA_MISMATCH), (F.col("id").isNull(), C.NO_ID))
    resolved = _resolved(t, reason, F.array())
    ods = _first(F.coalesce(F.col("r.identifier"), F.array()),
                 lambda i: i.getField("system").isin(*ODS_SYSTEMS) & C.blank_to_null(i.getField("value")).isNotNull())
    lookup = (t.filter(F.col("r").isNotNull() & F.col("id").isNotNull())
              .select(F.col("id").alias("org_id"), "bundle_key", F.trim(ods.getField("value")).alias("ods"),
                      F.col("r.name").alias("name"), F.col("r.partOf").alias("part_of"))
              .groupBy("org_id").agg(*[F.max(c).alias(c) for c in ("bundle_key", "ods", "name", "part_of")]))
    return resolved, lookup


def medications(records: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(resolved, lookup). lookup: med_id, med_codings."""
    t = typed(records, "Medication")
    reason = C.first_reason((F.col("r").isNull(), C.SCHEMA_MISMATCH), (F.col("id").isNull(), C.NO_ID))
    resolved = _resolved(t, reason, F.array())
    lookup = (t.filter(F.col("r").isNotNull() & F.col("id").isNotNull())
              .select(F.col("id").alias("med_id"), C.codings(F.col("r.code")).alias("med_codings"))
              .groupBy("med_id").agg(F.max("med_codings").alias("med_codings")))
    return resolved, lookup


# --- Patient -----------------------------------------------------------------------------------

def _org_candidate(df: DataFrame, ref_struct: str, prefix: str, urls: DataFrame, orgs: DataFrame) -> DataFrame:
    """``<prefix>_practice``: the practice id a Reference(Organization) gives (ODS code of the
    Organization, else its id, else the identifier on the reference, else the referenced id)."""
    ref = F.col(f"{ref_struct}.reference")
    df = resolve(df, ref, urls, prefix)
    o = orgs.select(F.col("org_id").alias(f"_{prefix}_oid"), F.col("ods").alias(f"_{prefix}_ods"))
    df = df.join(o, on=F.col(f"{prefix}_id") == F.col(f"_{prefix}_oid"), how="left")
    ident = C.blank_to_null(F.col(f"{ref_struct}.identifier.value"))
    rtype = F.coalesce(F.col(f"{prefix}_type"), F.col(f"{ref_struct}.type"))
    is_org = ((rtype == "Organization") | F.col(f"_{prefix}_oid").isNotNull()
              | (rtype.isNull() & ident.isNotNull()))
    practice = F.when(is_org, F.coalesce(F.col(f"_{prefix}_ods"), F.col(f"_{prefix}_oid"), ident, F.col(f"{prefix}_id")))
    return df.withColumn(f"{prefix}_practice", practice).drop(f"_{prefix}_oid", f"_{prefix}_ods", f"{prefix}_type",
                                                              f"{prefix}_id", f"{prefix}_in_bundle")


def map_patients(records: DataFrame, urls: DataFrame, orgs: DataFrame) -> DataFrame:
    t = typed(records, "Patient")
    gp = F.coalesce(F.col("r.generalPractitioner"), F.array())
    not_person = lambda g: ~(F.coalesce(C.ref_type(g.getField("reference")), g.getField("type"), F.lit(""))
                             .isin("Practitioner", "PractitionerRole"))
    t = t.withColumn("gp_ref", _first(gp, not_person))
    t = _org_candidate(t, "gp_ref", "gp", urls, orgs)
    t = _org_candidate(t, "r.managingOrganization", "mo", urls, orgs)

    r = F.col("r")
    names = F.coalesce(r.getField("name"), F.array())
    name = F.coalesce(_first(names, lambda n: n.getField("use") == "official"), F.try_element_at(names, F.lit(1)))
    nhs = _first(F.coalesce(r.getField("identifier"), F.array()),
                 lambda i: i.getField("system").isin(*NHS_SYSTEMS) & i.getField("value").isNotNull())
    nhs_digits = C.blank_to_null(F.regexp_replace(nhs.getField("value"), r"[^0-9]", ""))
    addr_ext = F.flatten(F.transform(F.coalesce(r.getField("address"), F.array()),
                                     lambda a: F.coalesce(a.getField("extension"), F.array())))
    exts = F.coalesce(r.getField("extension"), F.array())
    t = t.withColumns({"_name": name, "_addr_ext": addr_ext, "_exts": exts})
    name, addr_ext, exts = F.col("_name"), F.col("_addr_ext"), F.col("_exts")
    lsoa = _first(addr_ext, lambda e: (e.getField("url") == LSOA_EXTENSION)
                  & F.coalesce(e.getField("valueString"), e.getField("valueCode")).isNotNull())
    care_flags = F.transform(F.filter(addr_ext, lambda e: e.getField("url") == CARE_HOME_EXTENSION),
                             lambda e: C.parse_bool(e.getField("valueBoolean")))
    reg = _first(exts, lambda e: e.getField("url") == REGISTRATION_EXTENSION).getField("valuePeriod")
    eth = F.try_element_at(C.codings(_first(exts, lambda e: e.getField("url") == UKCORE_ETHNICITY_EXTENSION)
                                     .getField("valueCodeableConcept")), F.lit(1))
    dead_dt = F.col("r.deceasedDateTime")
    t = t.withColumns({
        "_nhs": nhs_digits, "_lsoa": F.trim(F.coalesce(lsoa.getField("valueString"), lsoa.getField("valueCode"))),
        "_care": F.when(F.exists(care_flags, lambda b: b), F.lit(True)).when(F.exists(care_flags, lambda b: ~b),
                                                                              F.lit(False)),
        "_reg": reg, "_eth": eth,
        "_deceased": F.coalesce(C.parse_bool(F.col("r.deceasedBoolean")) | C.blank_to_null(dead_dt).isNotNull(),
                                F.lit(False)),
    })
    reg, eth = F.col("_reg"), F.col("_eth")
    t = t.withColumns({
        "_birth": C.parse_date(F.col("r.birthDate")), "_death": C.parse_date(dead_dt),
        "_reg_start": C.parse_date(reg.getField("start")), "_reg_end": C.parse_date(reg.getField("end")),
        "_bad_date": _any_bad_date(F.col("r.birthDate"), dead_dt, reg.getField("start"), reg.getField("end")),
    })
    rows = F.array(F.struct(
        row("patients",
            patient_id=F.col("id"), nhs_number=F.col("_nhs"),
            given_name=C.blank_to_null(F.array_join(F.coalesce(name.getField("given"), F.array()), " ")),
            family_name=name.getField("family"), birth_date=F.col("_birth"),
            sex=F.lower(F.trim(F.col("r.gender"))), death_date=F.col("_death"), deceased=F.col("_deceased"),
            lsoa_code=F.col("_lsoa"), practice_id=F.coalesce(F.col("gp_practice"), F.col("mo_practice")),
            registration_start=F.col("_reg_start"), registration_end=F.col("_reg_end"),
            address_care_home=F.col("_care")).alias("p"),
        eth.getField("system").alias("eth_ext_system"), eth.getField("code").alias("eth_ext_code")))
    reason = C.first_reason((F.col("r").isNull(), C.SCHEMA_MISMATCH), (F.col("id").isNull(), C.NO_ID),
                            (F.col("_bad_date"), C.BAD_DATE))
    return _resolved(t, reason, rows)


def patient_table(resolved_patients: DataFrame) -> DataFrame:
    """Canonical patient columns + PATIENT_EXTRA + source_file, one row per ingested Patient."""
    return (resolved_patients.filter(F.col("outcome") == "ingested")
            .select("source_file", F.explode("rows").alias("x"))
            .select("source_file", "x.p.*", "x.eth_ext_system", "x.eth_ext_code"))


def practice_table(patients: DataFrame, orgs: DataFrame, urls: DataFrame) -> DataFrame:
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

def _clinical(records: DataFrame, rtype: str, urls: DataFrame, patient_ids: DataFrame) -> DataFrame:
    return _patient_subject(typed(records, rtype), urls, patient_ids)


def map_conditions(records, urls, patient_ids) -> DataFrame:
    t = _clinical(records, "Condition", urls, patient_ids)
    raw = ("r.onsetDateTime", "r.onsetPeriod.start", "r.recordedDate", "r.abatementDateTime", "r.abatementPeriod.start")
    t = t.withColumns({
        "_codes": C.codings(F.col("r.code")),
        "_onset": F.coalesce(*[C.parse_date(F.col(c)) for c in raw[:3]]),
        "_recorded": C.parse_date(F.col("r.recordedDate")),
        "_abatement": F.coalesce(*[C.parse_date(F.col(c)) for c in raw[3:]]),
        "_bad_date": _any_bad_date(*[F.col(c) for c in raw]),
        "_clinical": C.first_code(F.col("r.clinicalStatus")),
        "_verification": C.first_code(F.col("r.verificationStatus")),
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


def _quantity(q: str) -> tuple[Column, Column]:
    return (C.parse_double(F.col(f"{q}.value")),
            F.coalesce(C.blank_to_null(F.col(f"{q}.unit")), C.blank_to_null(F.col(f"{q}.code"))))


def map_observations(records, urls, patient_ids) -> DataFrame:
    t = _clinical(records, "Observation", urls, patient_ids)
    raw = ("r.effectiveDateTime", "r.effectivePeriod.start", "r.effectiveInstant", "r.issued")
    value, unit = _quantity("r.valueQuantity")

    def comp_rows(comp: Column) -> Column:
        q = comp.getField("valueQuantity")
        v = C.parse_double(q.getField("value"))
        u = F.coalesce(C.blank_to_null(q.getField("unit")), C.blank_to_null(q.getField("code")))
        return F.transform(C.codings(comp.getField("code")), lambda c: F.struct(
            c.getField("system").alias("system"), c.getField("code").alias("code"),
            c.getField("display").alias("display"), v.alias("value"), u.alias("unit")))

    main = F.transform(C.codings(F.col("r.code")), lambda c: F.struct(
        c.getField("system").alias("system"), c.getField("code").alias("code"), c.getField("display").alias("display"),
        value.alias("value"), unit.alias("unit")))
    comps = F.coalesce(F.col("r.component"), F.array())
    t = t.withColumns({
        "_date": F.coalesce(*[C.parse_date(F.col(c)) for c in raw]),
        "_bad_date": _any_bad_date(*[F.col(c) for c in raw]),
        "_items": F.concat(main, F.flatten(F.transform(comps, comp_rows))),
        "_bad_num": (C.bad_number(F.col("r.valueQuantity.value"))
                     | F.exists(comps, lambda c: C.bad_number(c.getField("valueQuantity").getField("value")))),
        "_status": F.when(F.lower(F.col("r.status")).isin("entered-in-error", "cancelled"),
                          F.lit("entered-in-error")).otherwise(F.lit("active")),
    })
    rows = F.transform(F.col("_items"), lambda i: row(
        "events", patient_id=F.col("patient_id"), date=F.col("_date"), system=i.getField("system"),
        code=i.getField("code"), display=i.getField("display"), value=i.getField("value"), unit=i.getField("unit"),
        kind=F.lit("observation"), status=F.col("_status"), source_id=source_id("Observation")))
    reason = _reason((F.size("_items") == 0, C.NO_CODE), (F.col("_bad_date"), C.BAD_DATE),
                     (F.col("_date").isNull(), C.NO_DATE), (F.col("_bad_num"), C.BAD_NUMBER))
    return _resolved(t, reason, rows)


def map_procedures(records, urls, patient_ids) -> DataFrame:
    t = _clinical(records, "Procedure", urls, patient_ids)
    raw = ("r.performedDateTime", "r.performedPeriod.start")
    st = F.lower(F.col("r.status"))
    t = t.withColumns({
        "_date": F.coalesce(*[C.parse_date(F.col(c)) for c in raw]),
        "_bad_date": _any_bad_date(*[F.col(c) for c in raw]),
        "_codes": C.codings(F.col("r.code")),
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


_CONTAINED_MED = struct(resourceType=S, id=S, code=CODEABLE)


def map_medication_requests(records, urls, patient_ids, meds: DataFrame) -> DataFrame:
    t = _clinical(records, "MedicationRequest", urls, patient_ids)
    mref = F.col("r.medicationReference.reference")
    # contained Medication ("#id"): parse only the contained resources of requests that point inside.
    t = t.withColumn("_local", F.when(F.trim(mref).startswith("#"), F.substring(F.trim(mref), 2, 1 << 20)))
    contained = F.when(F.col("_local").isNotNull(), F.transform(F.coalesce(F.col("r.contained"), F.array()),
                                                                lambda c: F.from_json(c, _CONTAINED_MED)))
    cmed = _first(F.coalesce(contained, F.array()), lambda m: m.getField("id") == F.col("_local"))
    t = t.withColumn("_cmed_codes", C.codings(cmed.getField("code")))
    # a Medication resource elsewhere in the data (Medication/<id>, urn:uuid:<id>)
    t = resolve(t, F.when(F.col("_local").isNull(), mref), urls, "med")
    m = meds.select(F.col("med_id").alias("_mid"), "med_codings")
    t = t.join(m, on=(F.col("med_id") == F.col("_mid"))
               & F.coalesce(F.col("med_type") == "Medication", F.lit(True)), how="left")
    nonempty = lambda a: F.when(F.size(a) > 0, a)
    own = C.codings(F.col("r.medicationCodeableConcept"))
    qty = F.col("r.dispenseRequest.quantity.value")
    start = F.col("r.dispenseRequest.validityPeriod.start")
    end = F.col("r.dispenseRequest.validityPeriod.end")
    t = t.withColumns({
        "_codes": F.coalesce(nonempty(own), nonempty(F.col("_cmed_codes")), nonempty(F.col("med_codings")),
                             F.array()),
        # authoredOn, else the start of the prescription's validity (EPS messages carry no authoredOn)
        "_date": F.coalesce(C.parse_date(F.col("r.authoredOn")), C.parse_date(start)),
        "_end": C.parse_date(end),
        "_bad_date": _any_bad_date(F.col("r.authoredOn"), start, end),
        "_qty": C.parse_double(qty),
        "_bad_num": C.bad_number(qty),
    })
    rows = F.transform(F.col("_codes"), lambda c: row(
        "medications", patient_id=F.col("patient_id"), date=F.col("_date"), end_date=F.col("_end"),
        system=c.getField("system"), code=c.getField("code"), display=c.getField("display"),
        status=F.lower(F.col("r.status")), quantity=F.col("_qty"), source_id=source_id("MedicationRequest")))
    reason = _reason((F.size("_codes") == 0, C.NO_CODE), (F.col("_bad_date"), C.BAD_DATE),
                     (F.col("_date").isNull(), C.NO_DATE), (F.col("_bad_num"), C.BAD_NUMBER))
    return _resolved(t, reason, rows)


def map_service_requests(records, urls, patient_ids) -> DataFrame:
    t = _clinical(records, "ServiceRequest", urls, patient_ids)
    raw = ("r.authoredOn", "r.occurrenceDateTime", "r.occurrencePeriod.start")
    t = t.withColumns({
        "_date": F.coalesce(*[C.parse_date(F.col(c)) for c in raw]),
        "_bad_date": _any_bad_date(*[F.col(c) for c in raw]),
        "_codes": C.codings(F.col("r.code")),
    })
    rows = F.transform(F.col("_codes"), lambda c: row(
        "referrals", patient_id=F.col("patient_id"), date=F.col("_date"), system=c.getField("system"),
        code=c.getField("code"), display=c.getField("display"), priority=F.lower(F.col("r.priority")),
        status=F.lower(F.col("r.status")), source_id=source_id("ServiceRequest")))
    reason = _reason((F.size("_codes") == 0, C.NO_CODE), (F.col("_bad_date"), C.BAD_DATE),
                     (F.col("_date").isNull(), C.NO_DATE))
    return _resolved(t, reason, rows)


def referral_outcomes(records, urls, patient_ids) -> DataFrame:
    """source_id of a ServiceRequest → outcome_date: the start of the earliest finished Encounter
    whose basedOn names it. This is how a referral's outcome reaches the canonical record; the
    request's own status is not evidence (GP Connect returns "unknown")."""
    t = _clinical(records, "Encounter", urls, patient_ids).where(
        F.col("patient_id").isNotNull() & (F.lower(F.col("r.status")) == "finished"))
    t = t.select("bundle_key", C.parse_date(F.col("r.period.start")).alias("_start"),
                 F.explode(F.col("r.basedOn")).alias("_based_on"))
    t = resolve(t.where(F.col("_start").isNotNull()), F.col("_based_on.reference"), urls, "req")
    return (t.where(F.col("req_type").isNull() | (F.col("req_type") == "ServiceRequest"))
            .groupBy(F.concat(F.lit("ServiceRequest/"), F.col("req_id")).alias("source_id"))
            .agg(F.min("_start").alias("_linked_outcome")))


def encounter_class(code: Column) -> Column:
    m = F.create_map(*[F.lit(x) for k, v in sorted(ENCOUNTER_CLASS.items()) for x in (k, v)])
    return F.coalesce(F.try_element_at(m, F.upper(F.trim(code))), F.lit("other"))


def map_encounters(records, urls, patient_ids) -> DataFrame:
    t = _clinical(records, "Encounter", urls, patient_ids)
    codes = F.flatten(F.transform(F.coalesce(F.col("r.type"), F.array()), C.codings))
    none = F.array(F.struct(*[F.lit(None).cast("string").alias(n) for n in ("system", "code", "display")]))
    t = t.withColumns({
        "_start": C.parse_date(F.col("r.period.start")),
        "_end": C.parse_date(F.col("r.period.end")),
        "_bad_date": _any_bad_date(F.col("r.period.start"), F.col("r.period.end")),
        "_class": encounter_class(F.col("r.class.code")),
        "_codes": F.when(F.size(codes) > 0, codes).otherwise(none),
    })
    rows = F.transform(F.col("_codes"), lambda c: row(
        "encounters", patient_id=F.col("patient_id"), start=F.col("_start"), end=F.col("_end"),
        **{"class": F.col("_class")}, emergency=F.col("_class") == "emergency", system=c.getField("system"),
        code=c.getField("code"), source_id=source_id("Encounter")))
    reason = _reason((F.col("_bad_date"), C.BAD_DATE), (F.col("_start").isNull(), C.NO_DATE))
    skip = F.when(F.lower(F.col("r.status")).isin("entered-in-error", "cancelled"), F.lit(C.NOT_RECORDED))
    return _resolved(t, reason, rows, skip)
