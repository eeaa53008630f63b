"""Every cohort the engine knows, by worklist name, in worklist order. A new cohort is one
declaration module, its conf/cohorts/<name>.yaml and its spec tests, plus its name here."""
from importlib import import_module

ORDER = ("smr", "care_home", "hypertension", "af_undiagnosed", "af_anticoagulation", "fh", "heart_failure",
         "cancer_safety_netting", "anticipatory_care")
_CONVERTED = ("hypertension",)
COHORTS = {name: import_module(f"engine.cohorts.{name}").COHORT for name in ORDER if name in _CONVERTED}
