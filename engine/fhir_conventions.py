"""Where the FHIR records carry what the canonical record needs.

Shared by the synthetic-data writers and the FHIR readers so the two never drift apart.
Identifier systems are the NHS England ones; the three extensions below are this project's own
(FHIR R4 has no standard home for an LSOA, a GP registration period or a care-home address flag),
and the README documents them for anyone preparing data for the engine.
"""

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"

# Patient.address[].extension: the Lower-layer Super Output Area of the address (valueString / valueCode).
LSOA_EXTENSION = "https://casefind.example.org/fhir/StructureDefinition/address-lsoa"
# Patient.address[].extension: the address is a care home (valueBoolean).
CARE_HOME_EXTENSION = "https://casefind.example.org/fhir/StructureDefinition/address-care-home"
# Patient.extension: GP registration period at the patient's practice (valuePeriod start/end).
REGISTRATION_EXTENSION = "https://casefind.example.org/fhir/StructureDefinition/gp-registration-period"
# Patient.extension used by UK Core for ethnicity (valueCodeableConcept).
UKCORE_ETHNICITY_EXTENSION = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"

# Encounter.class codes (v3 ActCode) → canonical encounter class.
ENCOUNTER_CLASS = {
    "IMP": "inpatient", "ACUTE": "inpatient", "NONAC": "inpatient", "SS": "inpatient",
    "EMER": "emergency",
    "AMB": "ambulatory", "FLD": "ambulatory",
    "VR": "virtual",
    "HH": "home",
}
