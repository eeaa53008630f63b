"""A folder of FHIR R4 (bulk NDJSON and/or Bundle / resource JSON files) → canonical-shaped tables."""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from engine.ingest import fhir_mapping as M
from engine.ingest.fhir_text import read_records
from engine.ingest.files import Inventory


def _rows(resolved: DataFrame) -> DataFrame:
    return (resolved.filter(F.col("outcome") == "ingested")
            .select("source_file", F.explode("rows").alias("x")).select("source_file", "x.*"))


def _outcomes(resolved: DataFrame) -> DataFrame:
    return resolved.select("resource_type", "outcome", "reason", "source_file", "json")


def read_fhir(spark: SparkSession, inv: Inventory) -> tuple[dict[str, DataFrame], DataFrame, list[DataFrame]]:
    """(canonical-shaped tables, one outcome row per record, persisted frames to release later).

    The stages are stored as eager local checkpoints (released when garbage-collected), so the
    returned list of persisted frames is empty.
    """
    persisted: list[DataFrame] = []

    def keep(df: DataFrame) -> DataFrame:
        # An eager local checkpoint, not persist(): later plans then start from a plain scan of
        # the stored blocks instead of repeating (and re-optimising) the whole lineage.
        return df.localCheckpoint(eager=True)

    records = keep(read_records(spark, inv))
    urls = keep(M.url_index(records))
    org_resolved, orgs = M.organizations(records)
    orgs = keep(orgs)
    med_resolved, meds = M.medications(records)
    meds = keep(meds)
    pat_resolved = keep(M.map_patients(records, urls, orgs))
    patients = M.patient_table(pat_resolved)
    patient_ids = keep(patients.select("patient_id").distinct())

    conditions = keep(M.map_conditions(records, urls, patient_ids))
    observations = keep(M.map_observations(records, urls, patient_ids))
    procedures = keep(M.map_procedures(records, urls, patient_ids))
    med_requests = keep(M.map_medication_requests(records, urls, patient_ids, meds))
    service_requests = keep(M.map_service_requests(records, urls, patient_ids))
    encounters = keep(M.map_encounters(records, urls, patient_ids))
    outcomes_by_request = M.referral_outcomes(records, urls, patient_ids)

    pre = records.filter(F.col("outcome").isNotNull()).select(
        "resource_type", "outcome", "reason", "source_file",
        F.when(F.col("outcome") == "quarantined", F.col("json")).alias("json"))
    outcomes = pre
    for r in (org_resolved, med_resolved, pat_resolved, conditions, observations, procedures, med_requests,
              service_requests, encounters):
        outcomes = outcomes.unionByName(_outcomes(r))

    tables = {
        "patients": patients,
        "practices": M.practice_table(patients, orgs, urls),
        "events": _rows(conditions).unionByName(_rows(observations)).unionByName(_rows(procedures)),
        "medications": _rows(med_requests),
        "referrals": (_rows(service_requests).join(outcomes_by_request, "source_id", "left")
                      .withColumn("outcome_date", F.coalesce("outcome_date", "_linked_outcome"))
                      .drop("_linked_outcome")),
        "encounters": _rows(encounters),
    }
    return tables, outcomes, persisted
