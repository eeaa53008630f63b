"""Every cohort the engine knows, by worklist name: each module here with a ``COHORT`` declaration,
in CLINICAL_RULES section order. A new cohort is its module, its conf/cohorts/<name>.yaml and its
spec tests; nothing here changes."""
import pkgutil
import re
from importlib import import_module

_SHARED = {"declaration", "render"}


def _section_key(cohort) -> tuple:
    number, suffix = re.match(r"§(\d+)(\w*)", cohort.section).groups()
    return int(number), suffix, cohort.name


def _discover() -> dict:
    found = []
    for info in pkgutil.iter_modules(__path__):      # also inside the --py-files zip
        if info.name in _SHARED:
            continue
        cohort = getattr(import_module(f"{__name__}.{info.name}"), "COHORT", None)
        if cohort is not None:
            found.append(cohort)
    return {c.name: c for c in sorted(found, key=_section_key)}


def __getattr__(name: str):
    # Discovered on first use, so importing one cohort module does not import them all.
    if name == "COHORTS":
        globals()["COHORTS"] = _discover()
        return globals()["COHORTS"]
    raise AttributeError(name)
