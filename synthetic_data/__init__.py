"""Deterministic synthetic population for the case-finding engine.

``generate(out, n_patients, seed, fmt, as_of, n_pcns)`` writes the same population as FHIR bulk
NDJSON, FHIR Bundles or a GP extract, plus the answers the engine must find (``truth.csv``) and
the traps it must not fall into (``near_misses.csv``).
"""
from synthetic_data.api import FORMATS, generate

__all__ = ["generate", "FORMATS"]
