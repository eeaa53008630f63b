"""Every cohort the engine knows, by worklist name. A new cohort is one module plus a line here."""
from engine.cohorts import (af_anticoagulation, anticipatory_care, af_undiagnosed, cancer_safety_netting, care_home, fh, heart_failure,
                            hypertension, smr)

COHORTS = {c.name: c for c in (
    smr.COHORT,
    care_home.COHORT,
    hypertension.COHORT,
    af_undiagnosed.COHORT,
    af_anticoagulation.COHORT,
    fh.COHORT,
    heart_failure.COHORT,
    cancer_safety_netting.COHORT,
    anticipatory_care.COHORT,
)}
