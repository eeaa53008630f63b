"""Every cohort the engine knows, by worklist name. A new cohort is one module plus a line here."""
from engine.cohorts import hypertension

COHORTS = {c.name: c for c in (hypertension.COHORT,)}
