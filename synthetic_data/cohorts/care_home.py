"""Care-home residents (CLINICAL_RULES §2): planted residents in each band, near misses, answer key.

``resident`` is the plain-Python statement of "lives in a care home" that the SMR answer key
(synthetic_data/cohorts/smr.py) reuses for its care_home subgroup. The eFI orders residents within a
band (rank only, so the answer key's bands do not depend on it); a frail resident is planted so the
rank column is exercised on generated data.
"""
from __future__ import annotations

import datetime as dt

from synthetic_data.chart import Chart
from synthetic_data.cohorts.common import Rows, add_months, eligible, has_code
from synthetic_data.cohorts.efi import plant_deficits
from synthetic_data.people import add_years
from synthetic_data.scenarios import Scenario
from synthetic_data.vocab import ENC_EMERGENCY

COHORT = "care_home"
CARE_HOME_TYPES = ("nursing", "residential", "care_home")
SMR_MONTHS = 12
NO_SMR, RECENT_SMR = f"no SMR in {SMR_MONTHS} months", f"SMR in the last {SMR_MONTHS} months"
OLD = (75, 95)


def resident_by_code(rows: Rows, as_of: dt.date, v) -> bool:
    """The latest residence-type code is a care-home code (a care-home code wins a same-day tie)."""
    types = {(r["system"], r["code"]): r.get("type", "") for r in v.rows("care_home_residence")}
    found = [(e["date"], types[(e["system"], e["code"])]) for e in rows.valid_events(as_of)
             if (e["system"], e["code"]) in types and e["status"] == "active"]
    if not found:
        return False
    last = max(day for day, _ in found)
    return any(kind in CARE_HOME_TYPES for day, kind in found if day == last)


def resident(p: dict, rows: Rows, as_of: dt.date, v) -> bool:
    """Care-home resident by code or by the current address's flag (``p["care_home"]``; an earlier,
    ended address in ``p["old_address"]`` never counts, CLINICAL_RULES §2). No eligibility test here."""
    return bool(p.get("care_home")) or resident_by_code(rows, as_of, v)


def truth(p, rows, as_of, v):
    if not eligible(p, as_of) or not resident(p, rows, as_of, v):
        return None
    smr = has_code(rows.valid_events(as_of), v.pairs("smr"), since=add_months(as_of, -SMR_MONTHS))
    return RECENT_SMR if smr else NO_SMR


# --- scenario builders ------------------------------------------------------------------------------
def _residence(c: Chart, code: str, day: dt.date, status: str = "final"):
    c.obs(day, c.v.pick("care_home_residence", code), status=status)


def _moved_in(c: Chart) -> dt.date:
    return c.ago(c.rng.randrange(60, 2500))


def _code(code: str):
    def build(c: Chart):
        _residence(c, code, _moved_in(c))
    return build


def _flag_only(c: Chart):
    c.p["care_home"] = True


def _flag_after_moving(c: Chart):
    """Moved into a care home: the current address is flagged, the earlier (own home) one is not."""
    c.p["care_home"] = True
    c.moved_house(old_care_home=False)


def _left_care_home(layout):
    """Only the earlier, ended address was a care home (CLINICAL_RULES §2: the current address counts)."""
    return lambda c: c.moved_house(old_care_home=True, layout=layout)


def _flag_and_code(c: Chart):
    c.p["care_home"] = True
    _residence(c, "160734000", _moved_in(c))


def _own_home_then_care_home(c: Chart):
    day = _moved_in(c)
    _residence(c, "160943002", day - dt.timedelta(days=c.rng.randrange(200, 3000)))
    _residence(c, c.rng.choice(("394923006", "160734000")), day)


def _same_day(c: Chart):
    day = _moved_in(c)
    _residence(c, "242711000000100", day)
    _residence(c, "248171000000108", day)


def _flag_with_later_own_home(c: Chart):
    c.p["care_home"] = True
    day = _moved_in(c)
    _residence(c, "394923006", day - dt.timedelta(days=400))
    _residence(c, "160943002", day)


def _care_home_then_own_home(c: Chart):
    day = _moved_in(c)
    _residence(c, "160734000", day - dt.timedelta(days=c.rng.randrange(100, 1500)))
    _residence(c, c.rng.choice(("160943002", "242701000000102", "429063000")), day)


def _with_smr(day_of):
    def build(c: Chart):
        _residence(c, "160737007", c.ago(c.rng.randrange(500, 2500)))
        c.procedure(day_of(c), c.v.pick("smr", "1239511000000100"))
    return build


def _admissions_and_visits(c: Chart):
    _residence(c, "160734000", c.ago(c.rng.randrange(400, 2500)))
    for back in (c.rng.randrange(20, 150), c.rng.randrange(160, 350), c.rng.randrange(400, 700)):
        c.encounter(c.ago(back), "EMER", ENC_EMERGENCY)
    c.encounter(c.ago(c.rng.randrange(5, 60)), "HH", c.v.pick("care_home_encounter", "889311000000109"))


def _frail_resident(c: Chart):
    _residence(c, "160734000", _moved_in(c))
    plant_deficits(c, 14)


def _palliative_resident(c: Chart):
    _residence(c, "394923006", _moved_in(c))
    c.procedure(c.ago(c.rng.randrange(10, 300)), c.v.pick("palliative", "103735009"))


def _visit_only(c: Chart):
    c.encounter(c.ago(c.rng.randrange(5, 300)), "HH", c.v.pick("care_home_encounter", "889311000000109"))


def _seen_in_nursing_home_only(c: Chart):
    c.procedure(c.ago(c.rng.randrange(5, 300)), c.v.pick("care_home_encounter", "185218006"))


def _entered_in_error(c: Chart):
    _residence(c, "160734000", _moved_in(c), status="entered-in-error")


def _after_as_of(c: Chart):
    _residence(c, "160734000", c.as_of + dt.timedelta(days=c.rng.randrange(1, 30)))


def _deceased(c: Chart):
    c.p["death_date"] = c.ago(c.rng.randrange(10, 200))
    _residence(c, "160734000", c.p["death_date"] - dt.timedelta(days=c.rng.randrange(100, 900)))


def _deregistered(c: Chart):
    c.p["registration_end"] = c.ago(c.rng.randrange(10, 200))
    _residence(c, "394923006", c.p["registration_end"] - dt.timedelta(days=c.rng.randrange(100, 900)))


def _aged_17(c: Chart):
    c.p["birth_date"] = add_years(c.as_of, -18) + dt.timedelta(days=1)
    c.p["registration_start"] = c.p["birth_date"] + dt.timedelta(days=10)
    _residence(c, "248171000000108", c.ago(c.rng.randrange(30, 300)))


def _aged_18(c: Chart):
    c.p["birth_date"] = add_years(c.as_of, -18)
    c.p["registration_start"] = c.p["birth_date"] + dt.timedelta(days=10)
    _residence(c, "248171000000108", c.ago(c.rng.randrange(30, 300)))


def _s(name, band, build, ages=OLD):
    return Scenario(f"{COHORT}: {name}", band, build, ages=ages, cohort=COHORT)


SCENARIOS = [
    _s("nursing-home code", NO_SMR, _code("160734000")),
    _s("residential-home code", NO_SMR, _code("394923006")),
    _s("care-home code, setting unknown", NO_SMR, _code("248171000000108")),
    _s("old people's home code", NO_SMR, _code("160737007")),
    _s("address flag only", NO_SMR, _flag_only),
    _s("address flag and nursing-home code", NO_SMR, _flag_and_code),
    _s("address flag on the current address, earlier address not a care home", NO_SMR, _flag_after_moving),
    _s("own-home code then care-home code", NO_SMR, _own_home_then_care_home),
    _s("care-home and own-home codes on one day", NO_SMR, _same_day),
    _s("address flag with a later own-home code", NO_SMR, _flag_with_later_own_home),
    _s("SMR 4 months ago", RECENT_SMR, _with_smr(lambda c: c.ago(c.rng.randrange(90, 150)))),
    _s("SMR exactly 12 months ago", RECENT_SMR, _with_smr(lambda c: add_months(c.as_of, -12))),
    _s("SMR 12 months and a day ago", NO_SMR,
       _with_smr(lambda c: add_months(c.as_of, -12) - dt.timedelta(days=1))),
    _s("emergency admissions and care-home visits", NO_SMR, _admissions_and_visits),
    _s("palliative resident is still listed", NO_SMR, _palliative_resident),
    _s("severely frail resident (eFI 15/36)", NO_SMR, _frail_resident),
    _s("aged 18 on the as-of date", NO_SMR, _aged_18, ages=(18, 30)),
    # near misses: must not be listed
    _s("near miss: care-home code then own-home code", None, _care_home_then_own_home),
    _s("near miss: earlier care-home address (use old, listed first)", None, _left_care_home("old_first")),
    _s("near miss: earlier care-home address (use home, period ended)", None, _left_care_home("home_ended")),
    _s("near miss: earlier care-home address (use old, listed after the current)", None, _left_care_home("old_last")),
    _s("near miss: care-home visit encounter only", None, _visit_only),
    _s("near miss: seen-in-nursing-home code only", None, _seen_in_nursing_home_only),
    _s("near miss: care-home code entered in error", None, _entered_in_error),
    _s("near miss: care-home code after the as-of date", None, _after_as_of),
    _s("near miss: deceased resident", None, _deceased),
    _s("near miss: deregistered resident", None, _deregistered),
    _s("near miss: aged 17 (18 tomorrow)", None, _aged_17, ages=(18, 30)),
]

TRUTHS = {COHORT: truth}
