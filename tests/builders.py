"""Tiny hand-built canonical records for spec tests: a few patients, a few events, one answer each."""
from __future__ import annotations

import datetime as dt
import itertools

from engine import schema
from engine.codes import LOINC, SNOMED
from engine.record import Record

AS_OF = dt.date(2026, 3, 31)

# One code from each list, as a clinician's system would record it.
CLINIC_SYS, CLINIC_DIA = (SNOMED, "72313002"), (SNOMED, "1091811000000102")
LOINC_SYS, LOINC_DIA = (LOINC, "8480-6"), (LOINC, "8462-4")
HOME_SYS, HOME_DIA = (SNOMED, "413606001"), (SNOMED, "413605002")
HYPERTENSION, HYPERTENSION_RESOLVED = (SNOMED, "38341003"), (SNOMED, "162659009")
PALLIATIVE, PREGNANT = (SNOMED, "103735009"), (SNOMED, "77386006")
DIABETES, EGFR, BMI = (SNOMED, "44054006"), (LOINC, "33914-3"), (SNOMED, "60621009")
CHD, STROKE, PAD = (SNOMED, "22298006"), (SNOMED, "230690007"), (SNOMED, "399957001")
# The practice every test patient belongs to unless it names another (an unknown one: no PCN).
PRACTICE = ("A10001", "Test Surgery", "U00001", "Test PCN")


def months_ago(months: int, days: int = 0) -> dt.date:
    from engine.features.rows import add_months
    return add_months(AS_OF, -months) - dt.timedelta(days=days)


class Population:
    """Build patients and their events; ``record(spark)`` gives the canonical Record."""

    def __init__(self, practices: list[tuple] | None = None):
        self.rows = {name: [] for name in schema.TABLES}
        self.practices = [PRACTICE] if practices is None else practices
        self._ids = itertools.count(1)

    def patient(self, pid: str, age: int = 55, sex: str = "female", practice: str = "A10001",
                ethnicity_group: str | None = "White", ethnicity_category: str | None = "White British",
                death_date: dt.date | None = None, deceased: bool | None = None,
                registration_start: dt.date | None = dt.date(2010, 1, 1),
                registration_end: dt.date | None = None, birth_date: dt.date | None = None,
                address_care_home: bool = False, family_name: str | None = None) -> str:
        born = birth_date or dt.date(AS_OF.year - age, 1, 1)
        self.rows["patients"].append(dict(
            patient_id=pid, nhs_number="9990000018", given_name="Test", family_name=family_name or pid.upper(),
            birth_date=born, sex=sex, death_date=death_date, deceased=deceased or death_date is not None,
            ethnicity_code=None, ethnicity_group=ethnicity_group, ethnicity_category=ethnicity_category,
            lsoa_code="E01000001", imd_decile=5, practice_id=practice,
            registration_start=registration_start, registration_end=registration_end,
            address_care_home=address_care_home))
        return pid

    def event(self, pid: str, coding: tuple[str, str], date: dt.date, value: float | None = None,
              status: str = "active", kind: str = "observation", source_id: str | None = None,
              unit: str | None = None) -> None:
        system, code = coding
        self.rows["events"].append(dict(
            patient_id=pid, date=date, system=system, code=code, display=None,
            value=None if value is None else float(value),
            unit=unit, kind=kind, status=status, source_id=source_id or f"Observation/{next(self._ids)}"))

    def medication(self, pid: str, coding: tuple[str, str], date: dt.date, status: str = "completed",
                   quantity: float = 28, source_id: str | None = None) -> None:
        """One issue of a medicine (a MedicationRequest)."""
        system, code = coding
        self.rows["medications"].append(dict(
            patient_id=pid, date=date, end_date=date + dt.timedelta(days=28), system=system, code=code,
            display=None, status=status, quantity=float(quantity),
            source_id=source_id or f"MedicationRequest/{next(self._ids)}", kind="issue"))

    def authorisation(self, pid: str, coding: tuple[str, str], start: dt.date, end: dt.date | None = None,
                      status: str = "active", supply_days: int | None = None, source_id: str | None = None) -> None:
        """A repeat authorisation or standing order (CLINICAL_RULES §0) covering ``start`` to ``end``
        (open while active when no end)."""
        system, code = coding
        self.rows["medications"].append(dict(
            patient_id=pid, date=start, end_date=end, system=system, code=code, display=None, status=status,
            quantity=None, source_id=source_id or f"MedicationRequest/{next(self._ids)}", kind="authorisation",
            supply_days=supply_days))

    def referral(self, pid: str, coding: tuple[str, str], date: dt.date, priority: str = "urgent",
                 status: str = "active", outcome_date: dt.date | None = None) -> None:
        """A ServiceRequest; ``outcome_date``: when a linked encounter carried it out."""
        system, code = coding
        self.rows["referrals"].append(dict(
            patient_id=pid, date=date, system=system, code=code, display=None, priority=priority,
            status=status, outcome_date=outcome_date, source_id=f"ServiceRequest/{next(self._ids)}"))

    def encounter(self, pid: str, start: dt.date, klass: str = "ambulatory", coding: tuple[str, str] | None = None,
                  end: dt.date | None = None) -> None:
        system, code = coding or (None, None)
        self.rows["encounters"].append(dict(
            patient_id=pid, start=start, end=end or start, **{"class": klass}, emergency=klass == "emergency",
            system=system, code=code, source_id=f"Encounter/{next(self._ids)}"))

    def bp(self, pid: str, date: dt.date, systolic: float, diastolic: float, setting: str = "clinic") -> None:
        sys_code, dia_code = {"clinic": (CLINIC_SYS, CLINIC_DIA), "loinc": (LOINC_SYS, LOINC_DIA),
                              "home": (HOME_SYS, HOME_DIA)}[setting]
        source = f"Observation/bp{next(self._ids)}"
        self.event(pid, sys_code, date, systolic, source_id=source)
        self.event(pid, dia_code, date, diastolic, source_id=source)

    def diagnosis(self, pid: str, coding: tuple[str, str], date: dt.date, status: str = "active") -> None:
        self.event(pid, coding, date, status=status, kind="condition")

    def record(self, spark) -> Record:
        tables = {}
        for name, struct in schema.TABLES.items():
            rows = [tuple(r.get(f.name) for f in struct.fields) for r in self.rows[name]]
            tables[name] = spark.createDataFrame(rows, struct)
        tables["practices"] = spark.createDataFrame(self.practices, schema.PRACTICES)
        return Record.from_tables(tables)
