"""Code systems: one canonical URI per system, whatever alias a source or a codelist uses."""
from __future__ import annotations

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

# UK dm+d medicine identifiers are SNOMED CT UK drug-extension concept ids, so dm+d is SNOMED here.
_ALIASES = {
    "snomed": SNOMED, "snomedct": SNOMED, "sct": SNOMED, "http://snomed.info/sct": SNOMED,
    "https://snomed.info/sct": SNOMED, "dmd": SNOMED, "https://dmd.nhs.uk": SNOMED,
    "http://dmd.nhs.uk": SNOMED,
    "loinc": LOINC, "http://loinc.org": LOINC, "https://loinc.org": LOINC,
    "rxnorm": RXNORM, "http://www.nlm.nih.gov/research/umls/rxnorm": RXNORM,
}


def normalise_system(system: str | None) -> str | None:
    """The canonical URI for a code system name or URI; unknown systems pass through unchanged."""
    if system is None:
        return None
    key = system.strip().rstrip("/")
    return _ALIASES.get(key.lower(), key)


def alias_pairs() -> list[tuple[str, str]]:
    """(alias, canonical) pairs, for building the same mapping as a Spark expression."""
    return sorted(_ALIASES.items())
