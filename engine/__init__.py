"""PCN case-finding engine: FHIR / GP-extract records → canonical record → cohorts → worklists."""
__version__ = "0.1.0"
