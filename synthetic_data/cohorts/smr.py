"""SMR priority patients (CLINICAL_RULES §1): planted subgroups and hazards, near misses, answer key.

The answer key restates the rule over the canonical rows in plain Python; the care_home subgroup
uses ``synthetic_data.cohorts.care_home.resident`` (the same plain-Python statement of §2) and severe
frailty the plain-Python eFI of ``synthetic_data.cohorts.efi`` (§8).
"""
from __future__ import annotations

import datetime as dt

from synthetic_data.chart import Chart
from synthetic_data.cohorts.care_home import resident
from synthetic_data.cohorts.efi import efi, plant_deficits
from synthetic_data.cohorts.common import (add_months, age_on, current_medicines, eligible, has_code, issued, issues,
                                           latest_value, on_register)
from synthetic_data.people import add_years
from synthetic_data.scenarios import Scenario
from synthetic_data.vocab import AMLODIPINE_SOLN, AMLODIPINE_TABS, ENC_EMERGENCY, PARACETAMOL

COHORT = "smr"
SMR_MONTHS, CURRENT_DAYS, POLYPHARMACY = 12, 90, 10
HAZARD_MONTHS, ELDERLY, EGFR_BELOW = 3, 65, 45.0
VULNERABLE_MONTHS, ADDICTIVE_MONTHS, ADDICTIVE_MIN = 12, 12, 2
EFI_SEVERE_ABOVE = 0.36
ADDICTIVE_LISTS = ("med_opioid", "med_gabapentinoid", "med_benzodiazepine", "med_z_drug")


def _band(n: int) -> str | None:
    return None if n == 0 else "1 subgroup" if n == 1 else f"{n} subgroups"


def subgroups(p, rows, as_of, v) -> dict[str, bool]:
    ev = rows.valid_events(as_of)
    age = age_on(p["birth_date"], as_of)
    since3 = add_months(as_of, -HAZARD_MONTHS)

    def on(codelist):
        return bool(issued(rows, as_of, v.pairs(codelist), since3))

    nsaid = on("med_nsaid_oral")
    egfr = latest_value(ev, v.pairs("egfr"))
    hazards = (
        nsaid and age >= ELDERLY and not on("med_ppi_h2ra"),                                   # GI_P3A
        nsaid and on("med_anticoagulant_oral"),                                                 # GI_P3D
        nsaid and on_register(ev, v.pairs("heart_failure")) is not None,                       # HF_P3I
        nsaid and egfr is not None and egfr[1] < EGFR_BELOW,                                    # KI_P3K
        on("med_beta_blocker_nonselective")
        and on_register(ev, v.pairs("asthma"), v.pairs("asthma_resolved")) is not None,        # AS_P3G
    )
    since12 = add_months(as_of, -VULNERABLE_MONTHS)
    emergency = any(e["emergency"] and since12 <= e["start"] <= as_of for e in rows.encounters) or \
        has_code(ev, v.pairs("emergency_admission"), since12) is not None
    vulnerable = (has_code(ev, v.pairs("housebound")) is not None or has_code(ev, v.pairs("isolated")) is not None
                  or emergency or has_code(ev, v.pairs("falls"), since12) is not None)
    addictive_codes = frozenset().union(*(v.pairs(name) for name in ADDICTIVE_LISTS))
    return {
        "care_home": resident(p, rows, as_of, v),
        "polypharmacy": current_medicines(rows, as_of, CURRENT_DAYS) >= POLYPHARMACY,
        "error_prone": any(hazards),
        "frail_and_vulnerable": (has_code(ev, v.pairs("frailty_severe")) is not None
                                 or efi(rows, as_of, v) > EFI_SEVERE_ABOVE) and vulnerable,
        "addictive": issues(rows, as_of, addictive_codes, add_months(as_of, -ADDICTIVE_MONTHS)) >= ADDICTIVE_MIN,
    }


def truth(p, rows, as_of, v):
    if not eligible(p, as_of):
        return None
    ev = rows.valid_events(as_of)
    if has_code(ev, v.pairs("smr"), since=add_months(as_of, -SMR_MONTHS)) or has_code(ev, v.pairs("palliative")):
        return None
    return _band(sum(subgroups(p, rows, as_of, v).values()))


# --- scenario builders ------------------------------------------------------------------------------
def _recent(c: Chart) -> dt.date:
    """An issue day inside every window (90 days, 3 months), not on the as-of date."""
    return c.ago(c.rng.randrange(5, 80))


def _pool(c: Chart) -> list:
    """Medicines in no hazard or addictive list (PPIs/H2RAs protect; they never create a hazard)."""
    return [AMLODIPINE_TABS, AMLODIPINE_SOLN, PARACETAMOL] + \
        [(r["system"], r["code"], r["term"]) for r in c.v.rows("med_ppi_h2ra")]


def _medicines(c: Chart, n: int, day_of=_recent):
    for coding in c.rng.sample(_pool(c), n):
        c.issue(day_of(c), coding)


def _pick(c: Chart, codelist: str, *codes: str):
    return c.v.pick(codelist, c.rng.choice(codes))


def _nsaid(c: Chart, day=None):
    c.issue(day or _recent(c), _pick(c, "med_nsaid_oral", "329653008", "329807003", "198014", "310965"))


def _opioid(c, day):
    c.issue(day, _pick(c, "med_opioid", "322341003", "322623000", "1049221", "856987"))


def _frail(c: Chart):
    c.obs(c.ago(c.rng.randrange(30, 1500)), c.v.pick("frailty_severe", "925861000000102"))


def _housebound(c: Chart):
    c.obs(c.ago(c.rng.randrange(30, 2000)), c.v.pick("housebound", "160689007"))


def _both(*builds):
    def build(c: Chart):
        for b in builds:
            b(c)
    return build


# polypharmacy
def _poly(n):
    return lambda c: _medicines(c, n)


def _poly_edge(days_back):
    def build(c: Chart):
        first, *rest = c.rng.sample(_pool(c), 10)
        c.issue(c.ago(days_back), first)
        for coding in rest:
            c.issue(_recent(c), coding)
    return build


def _poly_repeats(c: Chart):
    codings = c.rng.sample(_pool(c), 9)
    for coding in codings:
        c.issue(_recent(c), coding)
    c.issue(_recent(c), codings[0])


# error-prone prescribing
def _gi_p3a(c: Chart):
    _nsaid(c)


def _aged(years: int, minus_days: int, then):
    def build(c: Chart):
        c.p["birth_date"] = add_years(c.as_of, -years) + dt.timedelta(days=minus_days)
        c.p["registration_start"] = c.p["birth_date"] + dt.timedelta(days=10)
        then(c)
    return build


def _with_ppi(day_of):
    def build(c: Chart):
        _nsaid(c)
        c.issue(day_of(c), _pick(c, "med_ppi_h2ra", "42356411000001102", "42354611000001108", "42351911000001100"))
    return build


def _nsaid_on(day_of):
    return lambda c: _nsaid(c, day_of(c))


def _gi_p3d(anticoagulant_day):
    def build(c: Chart):
        _nsaid(c)
        c.issue(anticoagulant_day(c), _pick(c, "med_anticoagulant_oral", "319735007", "855332", "703908001"))
    return build


def _heart_failure(resolved: bool):
    def build(c: Chart):
        onset = c.ago(c.rng.randrange(400, 3000))
        coding = _pick(c, "heart_failure", "84114007", "42343007", "88805009")
        if resolved:
            c.condition(coding, onset, clinical="resolved", abatement=onset + dt.timedelta(days=200))
        else:
            c.condition(coding, onset)
        _nsaid(c)
    return build


def _egfr(*values):
    def build(c: Chart):
        for k, value in enumerate(values):
            c.egfr(c.ago(100 + 300 * (len(values) - 1 - k)), value)
        _nsaid(c)
    return build


def _asthma(resolved: bool, nsbb_day):
    def build(c: Chart):
        onset = c.ago(c.rng.randrange(1500, 5000))
        c.condition(_pick(c, "asthma", "195967001", "233678006"), onset)
        if resolved:
            c.obs(onset + dt.timedelta(days=700), c.v.pick("asthma_resolved", "162660004"))
        c.issue(nsbb_day(c), _pick(c, "med_beta_blocker_nonselective", "318353009", "856519", "318633000"))
    return build


def _two_hazards(c: Chart):
    c.condition(_pick(c, "heart_failure", "84114007"), c.ago(c.rng.randrange(400, 3000)))
    _nsaid(c)


def _cancelled_nsaid(c: Chart):
    c.issue(_recent(c), _pick(c, "med_nsaid_oral", "329653008", "198014"), status="cancelled")


# frail and vulnerable
def _isolated(c: Chart):
    c.obs(c.ago(c.rng.randrange(30, 2000)), _pick(c, "isolated", "105529008", "160726006", "267076002", "276039008"))


def _fall_on(day_of):
    return lambda c: c.condition(_pick(c, "falls", "1912002", "161898004", "217082002"), day_of(c))


def _admission_on(day_of):
    return lambda c: c.encounter(day_of(c), "EMER", ENC_EMERGENCY)


def _admission_code(c: Chart):
    c.obs(c.ago(c.rng.randrange(20, 330)), c.v.pick("emergency_admission", "183478001"))


def _moderate(c: Chart):
    c.obs(c.ago(c.rng.randrange(30, 1500)), c.v.pick("frailty_moderate", "925831000000107"))


def _efi_deficits(k: int):
    """k deficits that touch no other SMR rule (housebound, falls and polypharmacy are added apart)."""
    return lambda c: plant_deficits(c, k)


# addictive medicines
def _addictive(first, second, second_day=None):
    def build(c: Chart):
        first(c, c.ago(c.rng.randrange(5, 200)))
        second(c, second_day(c) if second_day else c.ago(c.rng.randrange(5, 330)))
    return build


def _benzo(c, day):
    c.issue(day, _pick(c, "med_benzodiazepine", "321197008", "321294008", "197591"))


def _gabapentinoid(c, day):
    c.issue(day, _pick(c, "med_gabapentinoid", "323014008", "415165003", "483438"))


def _z_drug(c, day):
    c.issue(day, _pick(c, "med_z_drug", "321175006", "321184006"))


def _one_addictive(c: Chart):
    _benzo(c, c.ago(c.rng.randrange(5, 330)))
    _opioid(c, c.ago(c.rng.randrange(400, 900)))


# care home
def _care_home_flag(c: Chart):
    c.p["care_home"] = True


def _care_home_code(c: Chart):
    c.obs(c.ago(c.rng.randrange(60, 2000)), c.v.pick("care_home_residence", "160734000"))


def _two_opioids(c: Chart):
    _opioid(c, c.ago(c.rng.randrange(5, 150)))
    _opioid(c, c.ago(c.rng.randrange(160, 330)))


def _five(c: Chart):
    _care_home_flag(c)
    _medicines(c, 9)
    c.egfr(c.ago(c.rng.randrange(100, 700)), 38)
    _nsaid(c)
    _frail(c)
    _fall_on(lambda c: c.ago(c.rng.randrange(20, 300)))(c)
    _two_opioids(c)


# exclusions and eligibility
def _smr_on(day_of):
    def build(c: Chart):
        _medicines(c, 10)
        c.procedure(day_of(c), c.v.pick("smr", "1239511000000100"))
    return build


def _palliative(c: Chart):
    _medicines(c, 10)
    c.procedure(c.ago(c.rng.randrange(30, 400)), c.v.pick("palliative", "103735009"))


def _deceased(c: Chart):
    c.p["death_date"] = c.ago(c.rng.randrange(5, 30))
    _medicines(c, 10, day_of=lambda c: c.ago(c.rng.randrange(35, 80)))


# repeat authorisations (CLINICAL_RULES §0) --------------------------------------------------------------
# Dates keep away from every window edge (90 days, 3 and 12 months), so the FHIR authorisation and the
# issues a GP extract shows for it give the same answer.
def _days_ago(lo: int, hi: int):
    return lambda c: c.ago(c.rng.randrange(lo, hi))


def _in_force(c: Chart, coding, **kw):
    """An authorisation started long ago, still active with no end."""
    return c.authorisation(c.ago(c.rng.randrange(200, 2000)), coding, **kw)


def _ended(c: Chart, coding, lo=120, hi=160, status=None):
    """An authorisation whose validity period ended ``lo``–``hi`` days ago (status completed, or still
    'active' as a lapsed template is)."""
    end = c.ago(c.rng.randrange(lo, hi))
    return c.authorisation(end - dt.timedelta(days=c.rng.randrange(150, 600)), coding, end=end,
                           status=status or c.rng.choice(("completed", "active")))


def _stopped_first_day(c: Chart, coding, lo=150, hi=300):
    """Stopped with no end date: it covers its start day only (one implied issue)."""
    return c.authorisation(c.ago(c.rng.randrange(lo, hi)), coding, status="stopped")


def _poly_authorised(n_issued: int, extra=None, n_authorised: int = 0, until_next_year=False):
    """``n_issued`` medicines issued recently, ``n_authorised`` on repeat in force, then ``extra``
    (a function writing one more medicine, from the same pool, in a way that must not count)."""
    def build(c: Chart):
        codings = c.rng.sample(_pool(c), n_issued + n_authorised + (1 if extra else 0))
        for coding in codings[:n_issued]:
            c.issue(_recent(c), coding)
        for k, coding in enumerate(codings[n_issued:n_issued + n_authorised]):
            if until_next_year and k == 0:
                c.authorisation(c.ago(c.rng.randrange(200, 700)), coding, end=c.as_of + dt.timedelta(days=200))
            else:
                _in_force(c, coding)
        if extra:
            extra(c, codings[-1])
    return build


def _nsaid_coding(c: Chart):
    return _pick(c, "med_nsaid_oral", "329653008", "329807003", "198014", "310965")


def _nsaid_repeat(c: Chart):
    _in_force(c, _nsaid_coding(c))


def _nsaid_repeat_ended(c: Chart):
    _ended(c, _nsaid_coding(c))


def _ppi_coding(c: Chart):
    return _pick(c, "med_ppi_h2ra", "42356411000001102", "42354611000001108", "42351911000001100")


def _nsaid_with_ppi_repeat(c: Chart):
    _nsaid(c)
    _in_force(c, _ppi_coding(c))


def _nsaid_with_ppi_repeat_stopped(c: Chart):
    _nsaid(c)
    _ended(c, _ppi_coding(c), 150, 220, status="stopped")


def _oac_repeat_and_nsaid(c: Chart):
    _nsaid(c)
    _in_force(c, _pick(c, "med_anticoagulant_oral", "319735007", "855332", "703908001"))


def _asthma_nsbb_repeat(c: Chart):
    c.condition(_pick(c, "asthma", "195967001", "233678006"), c.ago(c.rng.randrange(1500, 5000)))
    _in_force(c, _pick(c, "med_beta_blocker_nonselective", "318353009", "856519", "318633000"))


def _opioid_coding(c: Chart):
    return _pick(c, "med_opioid", "322341003", "322623000", "1049221", "856987")


def _addictive_repeat(lo, hi, supply_days=None, kind=None):
    """An addictive medicine on repeat since ``lo``–``hi`` days ago (implied issues only)."""
    def build(c: Chart):
        coding = {"benzo": lambda: _pick(c, "med_benzodiazepine", "321197008", "321294008", "197591"),
                  None: lambda: _opioid_coding(c)}[kind]()
        c.authorisation(c.ago(c.rng.randrange(lo, hi)), coding, supply_days=supply_days)
    return build


def _opioid_stopped_first_day(c: Chart):
    _stopped_first_day(c, _opioid_coding(c), 100, 300)


def _z_drug_repeat_ended(c: Chart):
    end = c.ago(c.rng.randrange(180, 200))
    c.authorisation(end - dt.timedelta(days=c.rng.randrange(60, 90)), _pick(c, "med_z_drug", "321175006", "321184006"),
                    end=end, status=c.rng.choice(("completed", "stopped")))


M12 = lambda c: add_months(c.as_of, -12)                                   # noqa: E731
M12_1 = lambda c: add_months(c.as_of, -12) - dt.timedelta(days=1)           # noqa: E731
M3 = lambda c: add_months(c.as_of, -3)                                     # noqa: E731
M3_1 = lambda c: add_months(c.as_of, -3) - dt.timedelta(days=1)             # noqa: E731
ONE = "1 subgroup"
OLD, ELDER, ADULT = (75, 95), (66, 90), (30, 60)


def _s(name, band, build, ages=(30, 80)):
    return Scenario(f"{COHORT}: {name}", band, build, ages=ages, cohort=COHORT)


SCENARIOS = [
    # polypharmacy
    _s("polypharmacy: 10 current medicines", ONE, _poly(10)),
    _s("polypharmacy: 10th medicine exactly 90 days ago", ONE, _poly_edge(90)),
    _s("near miss: 9 current medicines", None, _poly(9)),
    _s("near miss: 10th medicine 91 days ago", None, _poly_edge(91)),
    _s("near miss: 9 medicines, one issued twice", None, _poly_repeats),
    # error-prone prescribing (PINCER)
    _s("GI_P3A: aged 65+ on an oral NSAID without a PPI/H2RA", ONE, _gi_p3a, ages=ELDER),
    _s("GI_P3A: 65th birthday on the as-of date", ONE, _aged(65, 0, _gi_p3a)),
    _s("GI_P3A: NSAID issued exactly 3 months ago", ONE, _nsaid_on(M3), ages=ELDER),
    _s("GI_P3A: PPI 3 months and a day ago does not protect", ONE, _with_ppi(M3_1), ages=ELDER),
    _s("near miss: aged 64 (65 tomorrow) on an oral NSAID", None, _aged(65, 1, _gi_p3a)),
    _s("near miss: aged 65+ on an oral NSAID with a PPI/H2RA", None,
       _with_ppi(lambda c: c.ago(c.rng.randrange(5, 80))), ages=ELDER),
    _s("near miss: NSAID issued 3 months and a day ago", None, _nsaid_on(M3_1), ages=ELDER),
    _s("near miss: NSAID issue cancelled", None, _cancelled_nsaid, ages=ELDER),
    _s("GI_P3D: oral anticoagulant with an oral NSAID", ONE, _gi_p3d(_recent), ages=ADULT),
    _s("near miss: anticoagulant 3 months and a day before the NSAID window", None, _gi_p3d(M3_1), ages=ADULT),
    _s("HF_P3I: heart failure with an oral NSAID", ONE, _heart_failure(False), ages=ADULT),
    _s("near miss: heart failure resolved, oral NSAID", None, _heart_failure(True), ages=ADULT),
    _s("KI_P3K: latest eGFR 44 with an oral NSAID", ONE, _egfr(70, 44), ages=ADULT),
    _s("near miss: eGFR 45 with an oral NSAID", None, _egfr(45), ages=ADULT),
    _s("near miss: eGFR 44 then 62, oral NSAID", None, _egfr(44, 62), ages=ADULT),
    _s("AS_P3G: asthma with a non-selective beta-blocker", ONE, _asthma(False, _recent), ages=ADULT),
    _s("near miss: asthma resolved, non-selective beta-blocker", None, _asthma(True, _recent), ages=ADULT),
    _s("near miss: asthma, beta-blocker 3 months and a day ago", None, _asthma(False, M3_1), ages=ADULT),
    _s("two PINCER hazards are one subgroup", ONE, _two_hazards, ages=ELDER),
    # frail and vulnerable
    _s("frail and housebound", ONE, _both(_frail, _housebound), ages=OLD),
    _s("frail and isolated", ONE, _both(_frail, _isolated), ages=OLD),
    _s("frail with a recent fall", ONE, _both(_frail, _fall_on(lambda c: c.ago(c.rng.randrange(10, 300)))), ages=OLD),
    _s("frail with a fall exactly 12 months ago", ONE, _both(_frail, _fall_on(M12)), ages=OLD),
    _s("frail with an emergency admission", ONE,
       _both(_frail, _admission_on(lambda c: c.ago(c.rng.randrange(10, 300)))), ages=OLD),
    _s("frail with an emergency admission exactly 12 months ago", ONE, _both(_frail, _admission_on(M12)), ages=OLD),
    _s("frail with an emergency-admission code", ONE, _both(_frail, _admission_code), ages=OLD),
    _s("near miss: frail, fall 12 months and a day ago", None, _both(_frail, _fall_on(M12_1)), ages=OLD),
    _s("near miss: frail, emergency admission 12 months and a day ago", None,
       _both(_frail, _admission_on(M12_1)), ages=OLD),
    _s("near miss: severe frailty alone", None, _frail, ages=OLD),
    _s("near miss: housebound with moderate frailty", None, _both(_moderate, _housebound), ages=OLD),
    _s("near miss: housebound without a frailty code", None, _housebound, ages=OLD),
    _s("frail by eFI > 0.36 (no frailty code) + housebound", ONE,
       _both(_efi_deficits(12), _housebound), ages=OLD),                       # 13/36 = 0.361
    _s("frail by eFI (11 coded + polypharmacy of 5 + recent fall = 13/36)", ONE,
       _both(_efi_deficits(11), _poly(5), _fall_on(lambda c: c.ago(c.rng.randrange(10, 300)))), ages=OLD),
    _s("near miss: eFI 0.333 (12/36 with housebound), no frailty code", None,
       _both(_efi_deficits(11), _housebound), ages=OLD),
    _s("near miss: eFI 0.333 (11 coded + housebound; a fall 12 months and a day ago is not a deficit)", None,
       _both(_efi_deficits(11), _housebound, _fall_on(M12_1)), ages=OLD),
    # addictive medicines
    _s("addictive: two opioid issues", ONE, _two_opioids),
    _s("addictive: opioid and benzodiazepine", ONE, _addictive(_opioid, _benzo)),
    _s("addictive: gabapentinoid and Z-drug", ONE, _addictive(_gabapentinoid, _z_drug)),
    _s("addictive: second issue exactly 12 months ago", ONE, _addictive(_benzo, _opioid, M12)),
    _s("near miss: one addictive issue in 12 months", None, _one_addictive),
    _s("near miss: second addictive issue 12 months and a day ago", None, _addictive(_gabapentinoid, _benzo, M12_1)),
    # repeat authorisations (§0): in force, ended, stopped, cancelled, proposed
    _s("polypharmacy: 6 issued and 4 on repeat in force", ONE, _poly_authorised(6, n_authorised=4)),
    _s("polypharmacy: 9 issued and one authorised until next year", ONE,
       _poly_authorised(9, n_authorised=1, until_next_year=True)),
    _s("near miss: 9 current medicines and a repeat that ended 4 months ago", None,
       _poly_authorised(9, extra=lambda c, coding: _ended(c, coding))),
    _s("near miss: 9 current medicines and a repeat stopped on its first day", None,
       _poly_authorised(9, extra=lambda c, coding: _stopped_first_day(c, coding))),
    _s("near miss: 9 current medicines and a cancelled repeat", None,
       _poly_authorised(9, extra=lambda c, coding: _in_force(c, coding, status="cancelled"))),
    _s("near miss: 9 current medicines and a proposal", None,
       _poly_authorised(9, extra=lambda c, coding: c.proposal(_recent(c), coding))),
    _s("GI_P3A: oral NSAID on repeat since months ago", ONE, _nsaid_repeat, ages=ELDER),
    _s("near miss: oral NSAID repeat that ended 4 months ago", None, _nsaid_repeat_ended, ages=ELDER),
    _s("near miss: oral NSAID with a PPI on repeat", None, _nsaid_with_ppi_repeat, ages=ELDER),
    _s("GI_P3A: PPI repeat stopped 5 months ago does not protect", ONE, _nsaid_with_ppi_repeat_stopped, ages=ELDER),
    _s("GI_P3D: anticoagulant on repeat with an oral NSAID", ONE, _oac_repeat_and_nsaid, ages=ADULT),
    _s("AS_P3G: asthma with a non-selective beta-blocker on repeat", ONE, _asthma_nsbb_repeat, ages=ADULT),
    _s("addictive: opioid on repeat for 10 weeks (3 implied issues)", ONE, _addictive_repeat(62, 76)),
    _s("addictive: benzodiazepine on repeat for 7 weeks (2 implied issues)", ONE, _addictive_repeat(42, 52, kind="benzo")),
    _s("near miss: opioid on repeat of 56-day supplies for 7 weeks (1 implied issue)", None,
       _addictive_repeat(42, 52, supply_days=56)),
    _s("near miss: opioid repeat stopped on its first day", None, _opioid_stopped_first_day),
    _s("addictive: Z-drug repeat that ended 6 months ago after 2-3 months", ONE, _z_drug_repeat_ended),
    # care home
    _s("care home: address flag", ONE, _care_home_flag, ages=OLD),
    _s("near miss: only an earlier address was a care home", None,
       lambda c: c.moved_house(old_care_home=True), ages=OLD),
    _s("care home: nursing-home code", ONE, _care_home_code, ages=OLD),
    # several subgroups: every band
    _s("two subgroups: polypharmacy and asthma with a beta-blocker", "2 subgroups",
       _both(_poly(10), _asthma(False, _recent)), ages=ADULT),
    _s("three subgroups: care home, frail, addictive", "3 subgroups",
       _both(_care_home_flag, _frail, _housebound, _two_opioids), ages=OLD),
    _s("four subgroups: care home, polypharmacy, frail, addictive", "4 subgroups",
       _both(_care_home_code, _poly(10), _frail, _isolated, _two_opioids), ages=OLD),
    _s("five subgroups", "5 subgroups", _five, ages=OLD),
    # exclusions and eligibility
    _s("SMR 12 months and a day ago", ONE, _smr_on(M12_1)),
    _s("near miss: SMR 6 months ago", None, _smr_on(lambda c: c.ago(c.rng.randrange(150, 210)))),
    _s("near miss: SMR exactly 12 months ago", None, _smr_on(M12)),
    _s("near miss: palliative care", None, _palliative),
    _s("near miss: deceased", None, _deceased),
    _s("near miss: aged 17 (18 tomorrow) with 10 medicines", None, _aged(18, 1, _poly(10)), ages=(18, 30)),
    _s("aged 18 on the as-of date with 10 medicines", ONE, _aged(18, 0, _poly(10)), ages=(18, 30)),
]

TRUTHS = {COHORT: truth}
