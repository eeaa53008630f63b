"""FHIR R4 JSON from the record model: bulk NDJSON (one file per type) or one Bundle per patient.

The resource bodies are identical in both layouts except for references: ``Patient/<id>`` in
NDJSON, ``urn:uuid:<id>`` in Bundles (each Bundle carries its practice and PCN Organizations).
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

from engine.fhir_conventions import (CARE_HOME_EXTENSION, LSOA_EXTENSION, NHS_NUMBER_SYSTEM, ODS_SYSTEM,
                                     REGISTRATION_EXTENSION, UKCORE_ETHNICITY_EXTENSION)
from synthetic_data.records import COURSE_SYSTEM
from synthetic_data.vocab import BMI_UNIT, MMHG, UCUM

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CLASS_DISPLAY = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient encounter",
                 "VR": "virtual", "HH": "home health"}
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
UKCORE_ETHNIC_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory"
NDJSON_LINES_PER_FILE = 100_000
COURSE_DISPLAY = {"continuous": "Continuous long term therapy",
                  "continuous-repeat-dispensing": "Continuous long term (repeat dispensing)",
                  "acute": "Short course (acute) therapy"}


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _coding(c):
    return {"system": c[0], "code": c[1], "display": c[2]}


def _concept(codings):
    return {"coding": [_coding(c) for c in codings]}


def _quantity(value, unit):
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _ref_maker(bundle: bool):
    if bundle:
        return lambda rt, rid: f"urn:uuid:{rid}"
    return lambda rt, rid: f"{rt}/{rid}"


def organization(org_id, ods, name, part_of_id=None, ref=None):
    res = {"resourceType": "Organization", "id": org_id,
           "identifier": [{"system": ODS_SYSTEM, "value": ods}], "active": True, "name": name}
    if part_of_id:
        res["partOf"] = {"reference": ref("Organization", part_of_id)}
    return res


def practice_resources(practice, ref) -> list[dict]:
    out = [organization(practice.id, practice.ods, practice.name,
                        practice.pcn.id if practice.pcn else None, ref)]
    if practice.pcn:
        out.append(organization(practice.pcn.id, practice.pcn.ods, practice.pcn.name))
    return out


def patient_resource(p: dict, ethnic_letter, ref) -> dict:
    period = {"start": p["registration_start"].isoformat()}
    if p["registration_end"]:
        period["end"] = p["registration_end"].isoformat()
    ext = [{"url": REGISTRATION_EXTENSION, "valuePeriod": period}]
    if ethnic_letter:
        ext.append({"url": UKCORE_ETHNICITY_EXTENSION,
                    "valueCodeableConcept": {"coding": [_coding((UKCORE_ETHNIC_SYSTEM,) + ethnic_letter)]}})
    res = {"resourceType": "Patient", "id": p["patient_id"], "extension": ext,
           "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": p["nhs_number"]}],
           "name": [{"use": "official", "family": p["family_name"], "given": [p["given_name"]]}],
           "gender": p["sex"], "birthDate": p["birth_date"].isoformat()}
    if p["death_date"]:
        res["deceasedDateTime"] = p["death_date"].isoformat()
    res["address"] = addresses(p)
    practice = p["practice"]
    res["generalPractitioner"] = [{"reference": ref("Organization", practice.id),
                                   "identifier": {"system": ODS_SYSTEM, "value": practice.ods}}]
    return res


def _address(lsoa: str, care_home: bool, city: str, use: str, period: dict | None = None) -> dict:
    out = {"extension": [{"url": LSOA_EXTENSION, "valueString": lsoa},
                         {"url": CARE_HOME_EXTENSION, "valueBoolean": care_home}],
           "use": use, "city": city, "country": "GB"}
    if period:
        out["period"] = period
    return out


def addresses(p: dict) -> list[dict]:
    """Patient.address: the current address (the one the canonical row and the GP extract carry),
    and for some patients an earlier one that has ended (CLINICAL_RULES §2/§9: only the current
    address counts). ``p["old_address"]``: (lsoa, care_home, start, end, layout), where layout says
    how the old one is marked and where it sits: 'old_first' (use old, listed first), 'home_ended'
    (use home with a period that has ended, listed first) or 'old_last' (use old, after the current)."""
    city = p["practice"].name.split(" ")[0]
    old = p.get("old_address")
    if not old:
        return [_address(p["lsoa_code"], p["care_home"], city, "home")]
    lsoa, care_home, start, end, layout = old
    period = {"start": start.isoformat(), "end": end.isoformat()}
    current = _address(p["lsoa_code"], p["care_home"], city, "home",
                       {"start": (end + dt.timedelta(days=1)).isoformat()})
    earlier = _address(lsoa, care_home, city, "home" if layout == "home_ended" else "old", period)
    return [current, earlier] if layout == "old_last" else [earlier, current]


def resource(res: dict, pid: str, practice_id: str, ref) -> dict:
    """The FHIR JSON of one record-model resource."""
    rt = res["rt"]
    subject = {"reference": ref("Patient", pid)}
    if rt == "Observation":
        out = {"resourceType": rt, "id": res["id"], "status": res["status"]}
        unit = res["unit"] or (res["components"][0][2] if res["components"] else None)
        cat = ("vital-signs" if unit in (MMHG, BMI_UNIT) else "laboratory" if unit else "social-history")
        out["category"] = [{"coding": [{"system": OBS_CATEGORY, "code": cat}]}]
        out["code"] = _concept(res["codings"])
        out["subject"] = subject
        out["effectiveDateTime"] = res["when"]
        if res["value"] is not None:
            out["valueQuantity"] = _quantity(res["value"], res["unit"])
        if res["components"]:
            out["component"] = [{"code": _concept(codings), "valueQuantity": _quantity(value, unit)}
                                for codings, value, unit in res["components"]]
        return out
    if rt == "Condition":
        out = {"resourceType": rt, "id": res["id"]}
        if res["verification"] not in ("entered-in-error", "refuted"):
            out["clinicalStatus"] = {"coding": [{"system": COND_CLINICAL, "code": res["clinical"]}]}
        out["verificationStatus"] = {"coding": [{"system": COND_VERIFICATION, "code": res["verification"]}]}
        out["category"] = [{"coding": [{"system": COND_CATEGORY, "code": "problem-list-item"}]}]
        out["code"] = _concept(res["codings"])
        out["subject"] = subject
        out["onsetDateTime"] = res["onset"]
        if res["abatement"]:
            out["abatementDateTime"] = res["abatement"]
        out["recordedDate"] = res["recorded"]
        return out
    if rt == "Procedure":
        return {"resourceType": rt, "id": res["id"], "status": res["status"],
                "code": _concept(res["codings"]), "subject": subject, "performedDateTime": res["when"]}
    if rt == "MedicationRequest":
        out = {"resourceType": rt, "id": res["id"], "status": res["status"], "intent": res["intent"]}
        if res["course"]:
            out["courseOfTherapyType"] = {"coding": [{"system": COURSE_SYSTEM, "code": res["course"],
                                                      "display": COURSE_DISPLAY.get(res["course"], res["course"])}]}
        out["medicationCodeableConcept"] = _concept(res["codings"])
        out["subject"] = subject
        if res["when"]:
            out["authoredOn"] = res["when"]
        dispense = {}
        period = {k: res[v] for k, v in (("start", "start"), ("end", "end")) if res[v]}
        if period:
            dispense["validityPeriod"] = period
        if res["repeats"] is not None:
            dispense["numberOfRepeatsAllowed"] = res["repeats"]
        dispense["quantity"] = {"value": res["quantity"]}
        if res["supply_days"]:
            dispense["expectedSupplyDuration"] = {"value": res["supply_days"], "unit": "days", "system": UCUM,
                                                  "code": "d"}
        out["dispenseRequest"] = dispense
        return out
    if rt == "Encounter":
        out = {"resourceType": rt, "id": res["id"], "status": res["status"],
               "class": {"system": ACT_CODE, "code": res["class"], "display": CLASS_DISPLAY[res["class"]]},
               "type": [_concept(res["codings"])], "subject": subject}
        if res.get("based_on"):
            out["basedOn"] = [{"reference": ref("ServiceRequest", res["based_on"])}]
        out["period"] = {"start": res["start"], "end": res["end"]}
        out["serviceProvider"] = {"reference": ref("Organization", practice_id)}
        return out
    if rt == "ServiceRequest":
        return {"resourceType": rt, "id": res["id"], "status": res["status"], "intent": "order",
                "priority": res["priority"], "code": _concept(res["codings"]), "subject": subject,
                "authoredOn": res["when"]}
    raise ValueError(f"unknown resource type {rt}")


class _Base:
    def __init__(self, out: Path, ethnic_letters: dict):
        self.out = out
        self.ethnic_letters = ethnic_letters      # census category → (letter, display)
        self.counts: dict[str, int] = {}

    def _count(self, rt: str, n: int = 1):
        self.counts[rt] = self.counts.get(rt, 0) + n

    def _patient_resources(self, built, ref):
        p = built.patient
        yield patient_resource(p, self._letter(built), ref)
        for res in built.resources:
            yield resource(res, p["patient_id"], p["practice"].id, ref)

    def _letter(self, built):
        """UK Core ethnic category extension mirroring the latest stated census code, if any."""
        latest = None
        for res in built.resources:
            if res["rt"] == "Observation" and res["codings"][0][1] in self.category_of:
                cat = self.category_of[res["codings"][0][1]]
                if cat != "Not stated" and (latest is None or res["when"] >= latest[0]):
                    latest = (res["when"], cat)
        return self.ethnic_letters.get(latest[1]) if latest else None


class NdjsonWriter(_Base):
    """``<Type>.ndjson``, or ``<Type>.NNN.ndjson`` of at most 100,000 lines when ``chunked``."""

    def __init__(self, out: Path, ethnic_letters: dict, category_of: dict, chunked: bool):
        super().__init__(out, ethnic_letters)
        self.category_of = category_of
        self.chunked = chunked
        self.ref = _ref_maker(False)
        self._files: dict[str, tuple] = {}   # type → (handle, part number, lines in part)

    def _emit(self, obj: dict):
        rt = obj["resourceType"]
        fh, part, lines = self._files.get(rt, (None, -1, NDJSON_LINES_PER_FILE))
        if fh is None or (self.chunked and lines >= NDJSON_LINES_PER_FILE):
            if fh:
                fh.close()
            part += 1
            name = f"{rt}.{part:03d}.ndjson" if self.chunked else f"{rt}.ndjson"
            fh, lines = open(self.out / name, "w", encoding="utf-8", newline="\n"), 0
        fh.write(dumps(obj))
        fh.write("\n")
        self._files[rt] = (fh, part, lines + 1)
        self._count(rt)

    def organisations(self, plan):
        for pcn in plan.pcns:
            self._emit(organization(pcn.id, pcn.ods, pcn.name))
        for pr in plan.practices:
            self._emit(organization(pr.id, pr.ods, pr.name, pr.pcn.id if pr.pcn else None, self.ref))

    def patients(self, chunk):
        for built in chunk:
            for obj in self._patient_resources(built, self.ref):
                self._emit(obj)

    def close(self):
        for fh, _, _ in self._files.values():
            fh.close()


class BundleWriter(_Base):
    """One ``<patient_id>.json`` collection Bundle per patient, with its practice and PCN."""

    def __init__(self, out: Path, ethnic_letters: dict, category_of: dict):
        super().__init__(out, ethnic_letters)
        self.category_of = category_of
        self.ref = _ref_maker(True)

    def organisations(self, plan):
        self._count("Organization", len(plan.pcns) + len(plan.practices))

    def patients(self, chunk):
        for built in chunk:
            pid = built.patient["patient_id"]
            objs = list(self._patient_resources(built, self.ref))
            objs[1:1] = practice_resources(built.patient["practice"], self.ref)
            bundle = {"resourceType": "Bundle", "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bundle:{pid}")),
                      "type": "collection",
                      "entry": [{"fullUrl": f"urn:uuid:{o['id']}", "resource": o} for o in objs]}
            with open(self.out / f"{pid}.json", "w", encoding="utf-8", newline="\n") as fh:
                fh.write(dumps(bundle))
            for o in objs:
                if o["resourceType"] != "Organization":
                    self._count(o["resourceType"])

    def close(self):
        pass
