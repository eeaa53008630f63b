"""Explicit Spark schemas for the parts of each FHIR R4 resource the engine reads.

Every leaf is a string: Spark's JSON reader then returns the text of whatever the source wrote (a
number, a boolean, a string) and the mapping casts it explicitly, so a ``"value": "12,5"`` becomes
a counted ``bad number`` instead of a silently null field. A field typed as a string but holding a
JSON object or array comes back as that object's JSON text, which is how Bundle entries and
``contained`` resources are carried without parsing them twice. No schema is ever inferred.
"""
from __future__ import annotations

from pyspark.sql import types as T

S = T.StringType()


def struct(**fields: T.DataType) -> T.StructType:
    return T.StructType([T.StructField(k.rstrip("_"), v, True) for k, v in fields.items()])


def arr(t: T.DataType) -> T.ArrayType:
    return T.ArrayType(t, True)


CODING = struct(system=S, code=S, display=S)
CODEABLE = struct(coding=arr(CODING), text=S)
IDENTIFIER = struct(system=S, value=S)
REFERENCE = struct(reference=S, type=S, identifier=IDENTIFIER, display=S)
QUANTITY = struct(value=S, unit=S, system=S, code=S)
PERIOD = struct(start=S, end=S)
EXTENSION = struct(url=S, valueString=S, valueCode=S, valueBoolean=S, valuePeriod=PERIOD,
                   valueCodeableConcept=CODEABLE, valueCoding=CODING)

# The head of any JSON text: enough to route it, and a Bundle's entries as raw JSON text. ``meta``,
# ``request`` and ``response`` are strings so that an odd shape there cannot make a whole Bundle
# unreadable; ``_corrupt`` is filled by from_json (columnNameOfCorruptRecord) when the text is not JSON.
CORRUPT = "_corrupt"
ENTRY = struct(fullUrl=S, resource=S, request=S, response=S)
HEAD = struct(resourceType=S, id=S, meta=S, type=S, entry=arr(ENTRY), eventId=S, exportId=S, **{CORRUPT: S})

PATIENT = struct(
    id=S, identifier=arr(IDENTIFIER),
    name=arr(struct(use=S, family=S, given=arr(S), text=S)),
    gender=S, birthDate=S, deceasedDateTime=S, deceasedBoolean=S,
    address=arr(struct(use=S, extension=arr(EXTENSION), period=PERIOD)),
    extension=arr(EXTENSION),
    generalPractitioner=arr(REFERENCE), managingOrganization=REFERENCE,
)

ORGANIZATION = struct(id=S, identifier=arr(IDENTIFIER), name=S, partOf=REFERENCE)

MEDICATION = struct(id=S, code=CODEABLE)

CONDITION = struct(
    id=S, subject=REFERENCE, code=CODEABLE, clinicalStatus=CODEABLE, verificationStatus=CODEABLE,
    onsetDateTime=S, onsetPeriod=PERIOD, recordedDate=S, abatementDateTime=S, abatementPeriod=PERIOD,
)

OBSERVATION = struct(
    id=S, status=S, subject=REFERENCE, code=CODEABLE,
    effectiveDateTime=S, effectivePeriod=PERIOD, effectiveInstant=S, issued=S,
    valueQuantity=QUANTITY,
    component=arr(struct(code=CODEABLE, valueQuantity=QUANTITY)),
)

PROCEDURE = struct(id=S, status=S, subject=REFERENCE, code=CODEABLE, performedDateTime=S,
                   performedPeriod=PERIOD)

MEDICATION_REQUEST = struct(
    id=S, status=S, intent=S, subject=REFERENCE,
    medicationCodeableConcept=CODEABLE, medicationReference=REFERENCE,
    authoredOn=S,
    dispenseRequest=struct(quantity=QUANTITY, validityPeriod=PERIOD),
    contained=arr(S),   # raw JSON text of each contained resource; parsed only if referenced
)

ENCOUNTER = struct(id=S, status=S, class_=CODING, type=arr(CODEABLE), subject=REFERENCE, period=PERIOD,
                   basedOn=arr(REFERENCE))

SERVICE_REQUEST = struct(
    id=S, status=S, intent=S, priority=S, subject=REFERENCE, code=CODEABLE,
    authoredOn=S, occurrenceDateTime=S, occurrencePeriod=PERIOD,
)

SCHEMAS: dict[str, T.StructType] = {
    "Patient": PATIENT,
    "Organization": ORGANIZATION,
    "Medication": MEDICATION,
    "Condition": CONDITION,
    "Observation": OBSERVATION,
    "Procedure": PROCEDURE,
    "MedicationRequest": MEDICATION_REQUEST,
    "Encounter": ENCOUNTER,
    "ServiceRequest": SERVICE_REQUEST,
}

# Resource types that become canonical rows (the rest of SCHEMAS are lookups).
CLINICAL = ("Condition", "Observation", "Procedure", "MedicationRequest", "Encounter", "ServiceRequest")
USED = tuple(SCHEMAS)
