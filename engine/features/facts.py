"""Patient facts: one row per patient as of a run date, built once and read by every consumer.

Cohorts, the risk features, the gap profile and the inequalities worklist all read this table;
none of them goes back to the canonical record. It is built with one pass per source table: every
codelist is matched in a single broadcast join of a combined (list, system, code) table, and each
table is aggregated per patient once, into maps of list → the patient's coded rows (``ev``, ``rx``,
``ref``; read as ``ev_<list>``, ``rx_<class>``, ``ref_<list>`` through ``engine.features.rows``). Derived facts (registers, eFI,
care-home residence, CHA2DS2-VASc, DLCN, ...) are column expressions over those arrays, so the
whole table is a handful of shuffles, cached once (memory and disk).

Windows that a rule chooses (the last 12 months, the last 90 days) are applied by the rule over
the arrays, not here, so one facts table serves any parameter value (``casefind sweep``).

``FACTS`` documents every column: its type, its meaning and the CLINICAL_RULES section it serves;
``docs/facts.md`` is generated from it (``python -m engine.docs``).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.codelists import load_codelist
from engine.config import conf_dir, load_facts_params
from engine.features import rows as R
from engine.features.rows import EV_ROW, REF_ROW, RX_ROW, add_months, age_on, lit_date
from engine.record import Record


@dataclass(frozen=True)
class Fact:
    name: str           # column, or a family written <list>
    type: str
    meaning: str
    section: str        # CLINICAL_RULES section(s) it serves


# --- which codelist reads which table ----------------------------------------------------------------
MEDICATION_PREFIX = "med_"
REFERRAL_LISTS = ("cancer_urgent_referral", "cardiology_referral")
ENCOUNTER_LISTS = ("care_home_encounter",)
NOT_EVENT_LISTS = ("ethnicity",)              # read at ingest, onto patients
# Medication issues that never reached the patient, and referrals that never went out, do not count.
NOT_ISSUED = ("entered-in-error", "cancelled", "draft")
REFERRAL_NOT_MADE = ("entered-in-error", "revoked", "draft", "cancelled")

# Long-term condition registers → their resolved codelist (None: only resolved Condition rows end it).
REGISTERS = {
    "hypertension": "hypertension_resolved",
    "diabetes": "diabetes_resolved",
    "chd": None,
    "stroke_tia": None,
    "pad": None,
    "heart_failure": None,
    "af": "af_resolved",
    "asthma": "asthma_resolved",
    "learning_disability": None,
    "severe_mental_illness": None,
}

ISSUE_ROW = T.StructType([T.StructField("date", T.DateType()), T.StructField("source_id", T.StringType()),
                          T.StructField("until", T.DateType()), T.StructField("authorised", T.BooleanType()),
                          T.StructField("medicine", T.StructType([T.StructField("system", T.StringType()),
                                                                  T.StructField("code", T.StringType())]))])
BP_DAY = T.StructType([T.StructField("date", T.DateType()), T.StructField("systolic", T.DoubleType()),
                       T.StructField("diastolic", T.DoubleType()), T.StructField("setting", T.StringType())])
CONTACT_ROW = T.StructType([T.StructField("date", T.DateType()), T.StructField("code", T.StringType()),
                            T.StructField("source_id", T.StringType())])

# Plausible blood-pressure values (CLINICAL_RULES §0): others never count.
PLAUSIBLE_BP = {"systolic": (40.0, 350.0), "diastolic": (20.0, 200.0)}

# eFI (CLINICAL_RULES §8; Clegg et al., Age Ageing 2016): 36 deficits; 35 coded (deficit, list,
# windowed), polypharmacy from the medication issues. Windowed deficits count only in the last
# EFI_WINDOW_MONTHS months, and only as active rows (a resolved fall row is dated at its abatement).
EFI_N_DEFICITS = 36
EFI_POLYPHARMACY_MIN = 5
EFI_WINDOW_MONTHS = 12
EFI_BANDS = (("fit", 0.12), ("mild", 0.24), ("moderate", 0.36))   # upper bound inclusive; above: severe
EFI_POLYPHARMACY = "polypharmacy"
EFI_DEFICITS = (
    ("activity limitation", "efi_activity_limitation", False),
    ("anaemia", "efi_anaemia", False),
    ("arthritis", "efi_arthritis", False),
    ("atrial fibrillation", "af", False),
    ("cerebrovascular disease", "stroke_tia", False),
    ("chronic kidney disease", "efi_ckd", False),
    ("diabetes", "diabetes", False),
    ("dizziness", "efi_dizziness", False),
    ("dyspnoea", "efi_dyspnoea", False),
    ("falls", "falls", True),
    ("foot problems", "efi_foot_problems", False),
    ("fragility fracture", "efi_fragility_fracture", False),
    ("hearing impairment", "efi_hearing_impairment", False),
    ("heart failure", "heart_failure", False),
    ("heart valve disease", "efi_valve_disease", False),
    ("housebound", "housebound", False),
    ("hypertension", "hypertension", False),
    ("hypotension/syncope", "efi_hypotension_syncope", False),
    ("ischaemic heart disease", "chd", False),
    ("memory/cognitive problems", "efi_memory_cognitive", False),
    ("mobility problems", "efi_mobility_problems", False),
    ("osteoporosis", "efi_osteoporosis", False),
    ("parkinsonism/tremor", "efi_parkinsonism_tremor", False),
    ("peptic ulcer", "efi_peptic_ulcer", False),
    ("peripheral vascular disease", "efi_pvd", False),
    ("requirement for care", "efi_care_requirement", False),
    ("respiratory disease", "efi_respiratory_disease", False),
    ("skin ulcer", "efi_skin_ulcer", False),
    ("sleep disturbance", "efi_sleep_disturbance", False),
    ("social vulnerability", "efi_social_vulnerability", False),
    ("thyroid disease", "efi_thyroid_disease", False),
    ("urinary incontinence", "efi_urinary_incontinence", False),
    ("urinary system disease", "efi_urinary_system_disease", False),
    ("visual impairment", "efi_visual_impairment", False),
    ("weight loss/anorexia", "efi_weight_loss", False),
)
assert len(EFI_DEFICITS) + 1 == EFI_N_DEFICITS

# CHA2DS2-VASc (CLINICAL_RULES §4): "ever" = any active or resolved row on or before the run date.
CHA2DS2_COMPONENTS = (
    ("chf_points", "heart failure"),
    ("hypertension_points", "hypertension"),
    ("age_points", "age"),
    ("diabetes_points", "diabetes"),
    ("stroke_points", "stroke/TIA/thromboembolism"),
    ("vascular_points", "vascular disease"),
    ("female_points", "female"),
)

# DLCN (CLINICAL_RULES §5; Nordestgaard 2013): the published points; thresholds are in conf/facts.yaml.
DLCN_PREMATURE_CHD_POINTS = 2
DLCN_PREMATURE_VASCULAR_POINTS = 1
DLCN_TENDON_XANTHOMA_POINTS = 6
DLCN_LOWER_BOUND_NOTE = ("a lower bound: family history, corneal arcus and DNA results are not in the record, "
                         "and the highest LDL-C may be a treated value")
CARE_HOME_TYPE_ORDER = ("nursing", "residential", "care_home")


FACTS: tuple[Fact, ...] = (
    # demographics and registration
    Fact("patient_id", "string", "the patient", "§0"),
    Fact("practice_id", "string", "registered practice", "§0"),
    Fact("pcn_id", "string", "the practice's PCN; UNASSIGNED when the practice has none", "§0, §9"),
    Fact("birth_date", "date", "date of birth (never leaves the facts table except through the worklist's own columns)", "§0"),
    Fact("age", "int", "whole years completed on the run date", "§0"),
    Fact("sex", "string", "as recorded", "§4, §5"),
    Fact("ethnicity_group", "string", "ONS 5-group (White, Mixed, Asian, Black, Other) or null", "§3, §9"),
    Fact("ethnicity_category", "string", "ONS 16-category name or null", "§3"),
    Fact("imd_decile", "int", "IMD decile of the LSOA (1 = most deprived) or null", "§9"),
    Fact("imd_quintile", "int", "ceil(imd_decile / 2), 1 = most deprived fifth", "§8, §9"),
    Fact("alive_registered", "boolean", "registered and alive on the run date (a source without "
         "registration data counts everyone as registered)", "§0"),
    Fact("address_care_home", "boolean", "the source flags the current address as a care home", "§2"),
    # coded rows
    Fact("ev (read as ev_<list>)", f"map<list, array<{EV_ROW.simpleString()}>>", "every active or resolved event on or before the run "
         "date coded in conf/codelists/<list>.csv (refuted and entered-in-error rows never), sorted by date; "
         "tag = the codelist's extra column", "all"),
    Fact("rx (read as rx_<class>)", f"map<class, array<{RX_ROW.simpleString()}>>", "every issue or repeat "
         "authorisation of a medicine in conf/codelists/med_<class>.csv on or before the run date, with the "
         "last day it covers (until: an issue's own date; an authorisation's end, else the run date while "
         "active, else its start) and supply (days per implied issue, null: 28); cancelled, draft and "
         "entered-in-error rows never", "§1, §4, §6, §8"),
    Fact("rx_issues", f"array<{ISSUE_ROW.simpleString()}>", "every medicine issue or authorisation on or before "
         "the run date, with the last day it covers, one medicine per row (its smallest (system, code): a dual-coded issue counts once)", "§0, §1, §8"),
    Fact("ref (read as ref_<list>)", f"map<list, array<{REF_ROW.simpleString()}>>", "referrals made on or before the run date coded in "
         "the list (cancelled, revoked, draft and entered-in-error never); tag = site", "§6, §7"),
    Fact("bp_days", f"array<{BP_DAY.simpleString()}>", "paired blood pressure per day: lowest plausible "
         "systolic and lowest plausible diastolic of the day; setting 'home' when the day has a home/ABPM code",
         "§0, §3"),
    Fact("emergency_admission_days", "array<date>", "distinct days with an emergency encounter or an "
         "emergency-admission code (active) on or before the run date", "§1, §2, §8"),
    Fact("care_home_contacts", f"array<{CONTACT_ROW.simpleString()}>", "care-home visit codes and coded "
         "care-home encounters (supporting evidence only)", "§2"),
    # registers and latest values
    Fact("<condition>_register", "date", "latest diagnosis date when on the register (latest active diagnosis "
         "code with no resolution on or after it; a same-day resolution wins), else null; conditions: "
         + ", ".join(REGISTERS), "§0"),
    Fact("egfr, egfr_date", "double, date", "latest eGFR ever (mL/min/1.73m²; highest on a day)", "§1, §3, §8"),
    Fact("bmi, bmi_date", "double, date", "latest BMI ever (kg/m²)", "§3, §8"),
    Fact("frailty_coded", "string", "most severe frailty code ever: severe, moderate or none", "§1, §8"),
    # eFI
    Fact("efi", "double", "electronic Frailty Index: deficits present ÷ 36", "§8"),
    Fact("efi_deficits", "int", "deficits present (0–36)", "§8"),
    Fact("efi_band", "string", "fit ≤ 0.12, mild ≤ 0.24, moderate ≤ 0.36, severe above", "§8"),
    Fact("efi_deficit_list", "string", "the deficits present, alphabetical, comma-separated", "§8"),
    # care home
    Fact("care_home", "boolean", "care-home resident: latest residence-type code is a care-home type "
         "(conf/facts.yaml care_home_types) or the address is flagged", "§2"),
    Fact("care_home_source", "string", "'residence code', 'address flag' or both", "§2"),
    Fact("care_home_setting", "string", "nursing / residential / unknown", "§2"),
    Fact("resident_by_code", "boolean", "latest residence-type code is a care-home type", "§2"),
    Fact("residence_code, residence_term, residence_type, residence_date", "string, string, string, date",
         "the latest residence-type code of any type (care home wins a same-day tie)", "§2"),
    Fact("care_home_contact_code, care_home_contact_date", "string, date", "latest care-home contact", "§2"),
    # scores
    Fact("cha2ds2_vasc", "int", "CHA2DS2-VASc 0–9 from the record", "§4"),
    Fact("cha2ds2_vasc_factors", "string", "the components present with their points ('hypertension: 1, age 78: 2')", "§4"),
    Fact("<component>_points", "int", "each CHA2DS2-VASc component's points: "
         + ", ".join(c for c, _ in CHA2DS2_COMPONENTS), "§4"),
    Fact("cha2ds2_<chf|hypertension|diabetes|stroke|vascular>_date", "date", "the row behind each coded "
         "component", "§4"),
    Fact("dlcn", "int", "Dutch Lipid Clinic Network score from the record: a lower bound", "§5"),
    Fact("dlcn_ldl_points, dlcn_history_points, dlcn_exam_points", "int", "the score's three recordable groups",
         "§5"),
    Fact("max_ldl, max_ldl_date", "double, date", "highest LDL-C ever (mmol/L)", "§5"),
    Fact("first_chd_date, first_chd_age, first_vascular_date, first_vascular_age, xanthoma_date",
         "date, int, date, int, date", "first CHD code; first stroke/TIA or PAD code; first tendon xanthoma", "§5"),
    Fact("dlcn_components", "string", "the score's parts with their points ('LDL-C 5.2: 3, premature CHD "
         "(first code 2010-04-01, age 50): 2')", "§5"),
)


def medicine_classes(codelist_dir: Path | None = None) -> list[str]:
    """The medicine classes with a codelist (conf/codelists/med_<class>.csv), sorted."""
    return [n[len(MEDICATION_PREFIX):] for n in _lists(codelist_dir) if n.startswith(MEDICATION_PREFIX)]


def _lists(codelist_dir: Path | None) -> list[str]:
    folder = Path(codelist_dir) if codelist_dir else conf_dir() / "codelists"
    return sorted(p.stem for p in folder.glob("*.csv"))


def _codes(record: Record, names: list[str]) -> DataFrame:
    """(list, system, code, term, tag) for every list: one small table, broadcast in every pass."""
    rows = []
    for name in names:
        cl = load_codelist(name, record.codelist_dir)
        record.codelist_paths[name] = cl.path
        tag = cl.extra_columns[0] if cl.extra_columns else None
        seen = set()
        for r in cl.rows:
            if (r["system"], r["code"]) not in seen:
                seen.add((r["system"], r["code"]))
                rows.append((name, r["system"], r["code"], r.get("term", ""), r.get(tag, "") if tag else ""))
    schema = "list string, system string, code string, term string, tag string"
    return F.broadcast(record.spark.createDataFrame(rows, schema))


def _rows_by_list(matched: DataFrame, name: str, row: Column, key: Column | None = None) -> DataFrame:
    """patient_id and ``name``: a map of list → the patient's rows in it, sorted by date."""
    key = F.col("list") if key is None else key
    per_list = matched.groupBy("patient_id", key.alias("_key")).agg(F.array_sort(F.collect_list(row)).alias("_rows"))
    return per_list.groupBy("patient_id").agg(F.map_from_entries(F.collect_list(F.struct("_key", "_rows"))).alias(name))


def _empty(col: str, element: T.DataType) -> Column:
    return F.coalesce(F.col(col), F.array().cast(T.ArrayType(element)))


def build(record: Record, as_of: dt.date) -> DataFrame:
    """The facts table for ``record`` as of ``as_of`` (not cached: ``patient_facts`` caches)."""
    params = load_facts_params()
    day = lit_date(as_of)
    names = _lists(record.codelist_dir)
    meds = [n for n in names if n.startswith(MEDICATION_PREFIX)]
    event_lists = [n for n in names if n not in meds and n not in NOT_EVENT_LISTS]
    codes = _codes(record, names)

    ev = (record.events.where((F.col("date") <= day) & F.col("status").isin("active", "resolved"))
          .join(codes, ["system", "code"]))
    ev_arrays = _rows_by_list(ev.where(F.col("list").isin(*event_lists)), "ev",
                              F.struct(*[F.col(f.name) for f in EV_ROW.fields]))

    issued = _medicine_rows(record.medications, day)
    rx_arrays = _rows_by_list(issued.join(codes.where(F.col("list").isin(*meds)), ["system", "code"]), "rx",
                              F.struct(*[F.col(f.name) for f in RX_ROW.fields]),
                              F.expr(f"substring(list, {len(MEDICATION_PREFIX) + 1})"))
    per_issue = (issued.groupBy("patient_id", "source_id", "date", "until", "authorised")
                 .agg(F.min(F.struct("system", "code")).alias("medicine"))
                 .groupBy("patient_id")
                 .agg(F.array_sort(F.collect_list(F.struct(*[f.name for f in ISSUE_ROW.fields]))).alias("rx_issues")))

    made = record.referrals.where((F.col("date") <= day) &
                                  ~F.lower(F.coalesce(F.col("status"), F.lit(""))).isin(*REFERRAL_NOT_MADE))
    ref_arrays = _rows_by_list(made.join(codes.where(F.col("list").isin(*REFERRAL_LISTS)), ["system", "code"]),
                               "ref", F.struct(*[F.col(f.name) for f in REF_ROW.fields]))

    enc = record.encounters.where(F.col("start") <= day)
    enc_arrays = (enc.join(codes.where(F.col("list").isin(*ENCOUNTER_LISTS)).select("system", "code", "list"),
                           ["system", "code"], "left")
                  .groupBy("patient_id")
                  .agg(F.array_sort(F.collect_set(F.when(F.coalesce(F.col("emergency"), F.lit(False)),
                                                         F.col("start")))).alias("_enc_emergency"),
                       F.array_sort(F.collect_list(F.when(F.col("list") == "care_home_encounter", F.struct(
                           F.col("start").alias("date"), "code", "source_id")))).alias("_enc_care_home")))

    bp = _bp_days(record, ev)

    practices = F.broadcast(record.practices.select("practice_id", "pcn_id").dropDuplicates(["practice_id"]))
    df = (record.patients.join(practices, "practice_id", "left")
          .join(ev_arrays, "patient_id", "left").join(rx_arrays, "patient_id", "left")
          .join(per_issue, "patient_id", "left").join(ref_arrays, "patient_id", "left")
          .join(enc_arrays, "patient_id", "left").join(bp, "patient_id", "left"))

    registered = (F.col("registration_start").isNull() | (F.col("registration_start") <= day)) & \
                 (F.col("registration_end").isNull() | (F.col("registration_end") > day))
    alive = F.when(F.col("death_date").isNotNull(), F.col("death_date") > day) \
             .otherwise(~F.coalesce(F.col("deceased"), F.lit(False)))
    base = [
        "patient_id", "practice_id", F.coalesce(F.col("pcn_id"), F.lit("UNASSIGNED")).alias("pcn_id"), "birth_date",
        age_on(F.col("birth_date"), day).alias("age"), "sex", "ethnicity_group", "ethnicity_category", "imd_decile",
        F.ceil(F.col("imd_decile") / 2).cast("int").alias("imd_quintile"),
        (registered & alive).alias("alive_registered"),
        F.coalesce(F.col("address_care_home"), F.lit(False)).alias("address_care_home"),
        "ev", "rx", "ref",
        _empty("rx_issues", ISSUE_ROW).alias("rx_issues"),
        _empty("bp_days", BP_DAY).alias("bp_days"),
        _empty("_enc_emergency", T.DateType()).alias("_enc_emergency"),
        _empty("_enc_care_home", CONTACT_ROW).alias("_enc_care_home"),
    ]
    df = df.select(*base)
    df = _derived(df, as_of, params)
    return df.drop("_enc_emergency", "_enc_care_home")


def _medicine_rows(medications: DataFrame, day: Column) -> DataFrame:
    """The medicine rows that count on the run date, each with the last day it covers (CLINICAL_RULES
    §0): an issue covers its date; an authorisation covers from its start to its end date, else while
    active to the run date, else (stopped or completed with no date) its start day only. Rows that
    are neither (a proposal), and cancelled, draft and entered-in-error rows, never count."""
    kind = F.coalesce(F.col("kind"), F.lit("issue"))
    status = F.lower(F.coalesce(F.col("status"), F.lit("")))
    authorised = kind == "authorisation"
    end = F.when(F.col("end_date").isNotNull(), F.col("end_date")).when(status == "active", day) \
        .otherwise(F.col("date"))
    until = F.when(authorised, F.least(day, F.greatest(F.col("date"), end))).otherwise(F.col("date"))
    return (medications.where((F.col("date") <= day) & kind.isin("issue", "authorisation") & ~status.isin(*NOT_ISSUED))
            .withColumns({"until": until, "authorised": authorised,
                          "supply": F.col("supply_days") if "supply_days" in medications.columns
                          else F.lit(None).cast("int")}))


def _bp_days(record: Record, ev: DataFrame) -> DataFrame:
    """patient_id, bp_days (CLINICAL_RULES §0): one (date, systolic, diastolic, setting) per day with both."""
    bp = ev.where((F.col("status") == "active") & F.col("list").isin("bp_systolic", "bp_diastolic", "bp_home"))

    def plausible(kind: str) -> Column:
        low, high = PLAUSIBLE_BP[kind]
        return F.when((F.col("list") == f"bp_{kind}") & F.col("value").between(low, high), F.col("value"))
    per_day = (bp.groupBy("patient_id", "date")
               .agg(F.min(plausible("systolic")).alias("systolic"), F.min(plausible("diastolic")).alias("diastolic"),
                    F.max((F.col("list") == "bp_home").cast("int")).alias("home"))
               .where(F.col("systolic").isNotNull() & F.col("diastolic").isNotNull()))
    return per_day.groupBy("patient_id").agg(F.array_sort(F.collect_list(F.struct(
        "date", "systolic", "diastolic",
        F.when(F.col("home") == 1, F.lit("home")).otherwise(F.lit("clinic")).alias("setting")))).alias("bp_days"))


def register(condition: str, resolved: str | None) -> Column:
    """Latest diagnosis date when the latest active diagnosis has no resolution on or after it."""
    dx = R.last_date(f"ev_{condition}")
    res = R.last_date(f"ev_{condition}", status="resolved")
    if resolved:
        res = F.greatest(res, R.last_date(f"ev_{resolved}"))
    return F.when(res.isNull() | (res < dx), dx)      # no diagnosis: dx is null either way


def efi_band(efi: Column) -> Column:
    out = F.lit("severe")
    for name, upper in reversed(EFI_BANDS):
        out = F.when(efi <= F.lit(upper), F.lit(name)).otherwise(out)
    return out


def _derived(df: DataFrame, as_of: dt.date, p: dict) -> DataFrame:
    cols: dict[str, Column] = {}
    for condition, resolved in REGISTERS.items():
        cols[f"{condition}_register"] = register(condition, resolved)
    cols["emergency_admission_days"] = F.array_sort(F.array_distinct(F.concat(
        F.col("_enc_emergency"), F.transform(R.where("ev_emergency_admission"), lambda x: x["date"]))))
    for name in ("egfr", "bmi"):
        latest = R.latest_value(f"ev_{name}")
        cols[name], cols[f"{name}_date"] = latest["value"], latest["date"]
    cols["frailty_coded"] = (F.when(R.last_date("ev_frailty_severe").isNotNull(), F.lit("severe"))
                             .when(R.last_date("ev_frailty_moderate").isNotNull(), F.lit("moderate"))
                             .otherwise(F.lit("none")))

    # eFI
    efi_since = lit_date(add_months(as_of, -EFI_WINDOW_MONTHS))
    present = [F.when(F.size(R.where(f"ev_{lst}", efi_since, "active") if windowed else R.rows(f"ev_{lst}")) > 0,
                      F.lit(deficit)) for deficit, lst, windowed in EFI_DEFICITS]
    present.append(F.when(R.medicines_since(add_months(as_of, -EFI_WINDOW_MONTHS)) >= EFI_POLYPHARMACY_MIN,
                          F.lit(EFI_POLYPHARMACY)))
    cols["_efi_present"] = F.array_sort(F.array_compact(F.array(*present)))

    # care-home residence (CLINICAL_RULES §2)
    kinds = p["care_home_types"]
    cols["_residence"] = R.first_by(R.where("ev_care_home_residence"), lambda x: [
        R.newest_first(x["date"]), F.when(x["tag"].isin(*kinds), 0).otherwise(1),
        F.array_position(F.array(*map(F.lit, CARE_HOME_TYPE_ORDER)), x["tag"]), x["source_id"], x["code"]])
    contacts = F.concat(F.transform(R.where("ev_care_home_encounter"), lambda x: F.struct(
        x["date"].alias("date"), x["code"].alias("code"), x["source_id"].alias("source_id"))), F.col("_enc_care_home"))
    cols["care_home_contacts"] = F.array_sort(contacts)
    cols["_contact"] = R.first_by(contacts, lambda x: [R.newest_first(x["date"]), x["source_id"], x["code"]])

    # CHA2DS2-VASc: "ever" reads active and resolved rows
    def ever(*lists: str) -> Column:
        return F.greatest(*[R.last_date(f"ev_{n}", status=None) for n in lists]) if len(lists) > 1 \
            else R.last_date(f"ev_{lists[0]}", status=None)
    cols["cha2ds2_chf_date"] = ever("heart_failure")
    cols["cha2ds2_hypertension_date"] = F.col("hypertension_register")
    cols["cha2ds2_diabetes_date"] = F.col("diabetes_register")
    cols["cha2ds2_stroke_date"] = ever("stroke_tia", "thromboembolism")
    cols["cha2ds2_vascular_date"] = ever("myocardial_infarction", "pad")

    # DLCN inputs
    ldl = R.highest_value("ev_ldl_cholesterol")
    cols["max_ldl"], cols["max_ldl_date"] = ldl["value"], ldl["date"]
    cols["first_chd_date"] = R.first_date("ev_chd")
    cols["first_vascular_date"] = F.least(R.first_date("ev_stroke_tia"), R.first_date("ev_pad"))
    cols["xanthoma_date"] = R.first_date("ev_tendon_xanthoma")

    # Registers first: CHA2DS2-VASc reads them.
    first = {k: v for k, v in cols.items() if k.endswith("_register")}
    df = df.select("*", *[v.alias(k) for k, v in first.items()])
    df = df.select("*", *[v.alias(k) for k, v in cols.items() if k not in first])
    df = _scores(df, p)
    return df


def _scores(df: DataFrame, p: dict) -> DataFrame:
    """eFI, care home, CHA2DS2-VASc and DLCN from the columns ``_derived`` prepared."""
    efi_n = F.size(F.col("_efi_present"))
    coded = F.coalesce(F.col("_residence.tag").isin(*p["care_home_types"]), F.lit(False))
    flagged = F.col("address_care_home")

    def present(date_col: str, points: int = 1) -> Column:
        return F.when(F.col(date_col).isNotNull(), F.lit(points)).otherwise(F.lit(0))
    points = {
        "chf_points": present("cha2ds2_chf_date"),
        "hypertension_points": present("cha2ds2_hypertension_date"),
        "age_points": F.when(F.col("age") >= 75, F.lit(2)).when(F.col("age") >= 65, F.lit(1)).otherwise(F.lit(0)),
        "diabetes_points": present("cha2ds2_diabetes_date"),
        "stroke_points": present("cha2ds2_stroke_date", 2),
        "vascular_points": present("cha2ds2_vascular_date"),
        "female_points": F.when(F.lower(F.col("sex")) == "female", F.lit(1)).otherwise(F.lit(0)),
    }
    # "age 86: 2, female: 1": each component with its points, as a GP adds them up
    age_text = F.concat(F.lit("age "), F.col("age").cast("string"))
    factors = F.concat_ws(", ", *[F.when(points[c] > 0, F.concat(age_text if c == "age_points" else F.lit(label),
                                                                 F.lit(": "), points[c].cast("string")))
                                  for c, label in CHA2DS2_COMPONENTS])

    premature_age = F.when(F.lower(F.col("sex")) == "female", F.lit(p["dlcn_premature_age_women"])) \
                     .otherwise(F.lit(p["dlcn_premature_age_men"]))
    chd_age = age_on(F.col("birth_date"), F.col("first_chd_date"))
    vascular_age = age_on(F.col("birth_date"), F.col("first_vascular_date"))
    premature_chd = F.coalesce(chd_age < premature_age, F.lit(False))
    premature_vascular = F.coalesce(vascular_age < premature_age, F.lit(False))
    ldl = F.col("max_ldl")
    ldl_points = (F.when(ldl > p["dlcn_ldl_8_points_above"], 8).when(ldl >= p["dlcn_ldl_5_points_from"], 5)
                  .when(ldl >= p["dlcn_ldl_3_points_from"], 3).when(ldl >= p["dlcn_ldl_1_point_from"], 1)
                  .otherwise(0))
    history_points = F.when(premature_chd, DLCN_PREMATURE_CHD_POINTS) \
        .when(premature_vascular, DLCN_PREMATURE_VASCULAR_POINTS).otherwise(0)
    exam_points = F.when(F.col("xanthoma_date").isNotNull(), DLCN_TENDON_XANTHOMA_POINTS).otherwise(0)

    # "<component>: <points>", as the CHA2DS2-VASc parts: "LDL-C 5.2: 3, premature CHD (...): 2"
    def event(label: str, prefix: str, age: Column, pts: int) -> Column:
        return F.concat(F.lit(label + " (first code "), F.col(f"{prefix}_date").cast("string"),
                        F.lit(", age "), age.cast("string"), F.lit(f"): {pts}"))
    components = F.concat_ws(", ",
        F.when(ldl.isNull(), F.lit("no LDL-C recorded: 0"))
         .otherwise(F.concat(F.lit("LDL-C "), mmol_text(ldl), F.lit(": "), ldl_points.cast("string"))),
        F.when(premature_chd, event("premature CHD", "first_chd", chd_age, DLCN_PREMATURE_CHD_POINTS))
         .when(premature_vascular, event("premature cerebral/peripheral vascular disease", "first_vascular",
                                         vascular_age, DLCN_PREMATURE_VASCULAR_POINTS)),
        F.when(F.col("xanthoma_date").isNotNull(),
               F.concat(F.lit("tendon xanthoma (coded "), F.col("xanthoma_date").cast("string"),
                        F.lit(f"): {DLCN_TENDON_XANTHOMA_POINTS}"))))

    return df.select(
        "*",
        efi_n.cast("int").alias("efi_deficits"),
        (efi_n / F.lit(float(EFI_N_DEFICITS))).cast("double").alias("efi"),
        efi_band(efi_n / F.lit(float(EFI_N_DEFICITS))).alias("efi_band"),
        F.array_join(F.col("_efi_present"), ", ").alias("efi_deficit_list"),
        (coded | flagged).alias("care_home"),
        F.when(coded | flagged, F.concat_ws(" and ", F.when(coded, F.lit("residence code")),
                                            F.when(flagged, F.lit("address flag")))).alias("care_home_source"),
        F.when(coded & F.col("_residence.tag").isin("nursing", "residential"), F.col("_residence.tag"))
         .otherwise(F.lit("unknown")).alias("care_home_setting"),
        coded.alias("resident_by_code"),
        F.col("_residence.code").alias("residence_code"), F.col("_residence.term").alias("residence_term"),
        F.col("_residence.tag").alias("residence_type"), F.col("_residence.date").alias("residence_date"),
        F.col("_contact.code").alias("care_home_contact_code"), F.col("_contact.date").alias("care_home_contact_date"),
        *[v.alias(k) for k, v in points.items()],
        sum(points.values(), F.lit(0)).cast("int").alias("cha2ds2_vasc"),
        factors.alias("cha2ds2_vasc_factors"),
        ldl_points.alias("dlcn_ldl_points"), history_points.alias("dlcn_history_points"),
        exam_points.alias("dlcn_exam_points"),
        (ldl_points + history_points + exam_points).cast("int").alias("dlcn"),
        chd_age.alias("first_chd_age"), vascular_age.alias("first_vascular_age"),
        components.alias("dlcn_components"),
    ).drop("_efi_present", "_residence", "_contact")


def mmol_text(col: Column) -> Column:
    """4.91 → "4.91", 6.5 → "6.5", 5.0 → "5": two decimals at most, so 4.91 never reads as 4.9."""
    return F.regexp_replace(F.format_string("%.2f", col), r"\.?0+$", "")


def efi_text(prefix: str = "") -> Column:
    """'eFI 0.389 (14/36: anaemia, …)' for reason sentences."""
    return F.concat(F.lit(prefix + "eFI "), F.format_number(F.col("efi"), 3), F.lit(" ("),
                    F.col("efi_deficits").cast("string"), F.lit(f"/{EFI_N_DEFICITS}: "), F.col("efi_deficit_list"),
                    F.lit(")"))


def cha2ds2_text(prefix: str = "") -> Column:
    """'CHA2DS2-VASc 3 (age 70, hypertension, female)' for reason sentences."""
    return F.concat(F.lit(prefix + "CHA2DS2-VASc "), F.col("cha2ds2_vasc").cast("string"),
                    F.when(F.col("cha2ds2_vasc_factors") != "",
                           F.concat(F.lit(" ("), F.col("cha2ds2_vasc_factors"), F.lit(")"))).otherwise(F.lit("")))


def cha2ds2_evidence() -> list[Column]:
    """The score and its components as evidence JSON fields."""
    return [F.col("cha2ds2_vasc"), *[F.col(c) for c, _ in CHA2DS2_COMPONENTS],
            *[F.col(f"cha2ds2_{n}_date").cast("string").alias(f"{n}_date")
              for n in ("chf", "hypertension", "diabetes", "stroke", "vascular")]]


def patient_facts(record: Record, as_of: dt.date) -> DataFrame:
    """The cached facts table for (record, as_of): built on first use, then shared."""
    cached = record.facts.get(as_of)
    if cached is None:
        cached = build(record, as_of).persist(StorageLevel.MEMORY_AND_DISK)
        record.facts[as_of] = cached
    return cached
