"""Atrial fibrillation (CLINICAL_RULES §4): planted cases and answer keys for both AF cohorts.

``af_undiagnosed`` (§4a): not on the AF register, with an AF signal in the last 12 months, or an
oral anticoagulant issued in the last 6 months with no AF, DVT, PE or valve-replacement code ever.
``af_anticoagulation`` (§4b): on the AF register, CHA2DS2-VASc ≥ 2, no oral anticoagulant in the
last 6 months, not palliative.

The truth functions are plain Python over one patient's canonical rows, written from the rule and
not from the engine; CHA2DS2-VASc is scored here again (``cha2ds2_vasc``) for the same reason.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from synthetic_data.chart import Chart
from synthetic_data.cohorts.common import Rows, add_months, age_on, eligible, has_code, issued, on_register
from synthetic_data.people import add_years
from synthetic_data.scenarios import Scenario
from synthetic_data.vocab import Vocab

UNDIAGNOSED, ANTICOAGULATION = "af_undiagnosed", "af_anticoagulation"
ECG, DEVICE, PULSE, OAC_ONLY = ("ECG AF or flutter", "device-detected AF", "irregular pulse",
                                "anticoagulant without recorded indication")
NOT_ANTICOAGULATED = "not anticoagulated"
# the af_signals `signal` value → its band (the strongest band wins)
SIGNAL_BANDS = {"ecg_af": ECG, "ecg_flutter": ECG, "device": DEVICE, "irregular_pulse": PULSE}
BAND_RANK = {ECG: 1, DEVICE: 2, PULSE: 3}

SIGNAL_MONTHS, OAC_MONTHS, MIN_SCORE = 12, 6, 2


@dataclass(frozen=True)
class Lists:
    af: frozenset
    af_res: frozenset
    signal: dict            # (system, code) → signal kind
    oac: frozenset
    dvt_pe_valve: frozenset
    pall: frozenset
    hf: frozenset
    htn: frozenset
    htn_res: frozenset
    diab: frozenset
    diab_res: frozenset
    stroke: frozenset       # stroke, TIA, systemic thromboembolism
    vascular: frozenset     # prior MI, PAD

    @classmethod
    def load(cls, v: Vocab) -> "Lists":
        f = lambda *names: frozenset().union(*(v.pairs(n) for n in names))  # noqa: E731
        return cls(f("af"), f("af_resolved"),
                   {(r["system"], r["code"]): r.get("signal", "") for r in v.rows("af_signals")},
                   f("med_anticoagulant_oral"), f("dvt", "pe", "valve_replacement"), f("palliative"),
                   f("heart_failure"), f("hypertension"), f("hypertension_resolved"), f("diabetes"),
                   f("diabetes_resolved"), f("stroke_tia", "thromboembolism"), f("myocardial_infarction", "pad"))


_lists: dict = {}


def _load(v: Vocab) -> Lists:
    return _lists.setdefault(id(v), Lists.load(v))


def _ever(events: list[dict], codes) -> bool:
    """Any valid row (active or resolved) with a code in ``codes``."""
    return any((r["system"], r["code"]) in codes for r in events)


def cha2ds2_vasc(p: dict, events: list[dict], as_of: dt.date, L: Lists) -> int:
    """CHA2DS2-VASc over valid events: C H A2 D S2 V A Sc, max 9."""
    age = age_on(p["birth_date"], as_of)
    return (_ever(events, L.hf)
            + (on_register(events, L.htn, L.htn_res) is not None)
            + (2 if age >= 75 else 1 if age >= 65 else 0)
            + (on_register(events, L.diab, L.diab_res) is not None)
            + 2 * _ever(events, L.stroke)
            + _ever(events, L.vascular)
            + (p["sex"] == "female"))


def undiagnosed_truth(p: dict, rows: Rows, as_of: dt.date, v: Vocab) -> str | None:
    L = _load(v)
    if not eligible(p, as_of):
        return None
    events = rows.valid_events(as_of)
    if on_register(events, L.af, L.af_res) is not None:
        return None
    since = add_months(as_of, -SIGNAL_MONTHS)
    bands = [SIGNAL_BANDS[L.signal[(r["system"], r["code"])]] for r in events
             if r["status"] == "active" and r["date"] >= since
             and L.signal.get((r["system"], r["code"])) in SIGNAL_BANDS]
    if bands:
        return min(bands, key=BAND_RANK.get)
    if issued(rows, as_of, L.oac, add_months(as_of, -OAC_MONTHS)) \
            and not _ever(events, L.af | L.af_res | L.dvt_pe_valve):
        return OAC_ONLY
    return None


def anticoagulation_truth(p: dict, rows: Rows, as_of: dt.date, v: Vocab) -> str | None:
    L = _load(v)
    if not eligible(p, as_of):
        return None
    events = rows.valid_events(as_of)
    if on_register(events, L.af, L.af_res) is None or cha2ds2_vasc(p, events, as_of, L) < MIN_SCORE:
        return None
    if issued(rows, as_of, L.oac, add_months(as_of, -OAC_MONTHS)) or has_code(events, L.pall):
        return None
    return NOT_ANTICOAGULATED


TRUTHS = {UNDIAGNOSED: undiagnosed_truth, ANTICOAGULATION: anticoagulation_truth}


# -- writing the records ------------------------------------------------------------------------

PULSE_CODES = ("361137007", "61086009", "248651005", "248652003", "163000006")


def _recent(c: Chart) -> dt.date:
    """Inside both windows with a margin: 20 days to 5 months ago."""
    return c.ago(c.rng.randrange(20, 150))


def _within_year(c: Chart) -> dt.date:
    return c.ago(c.rng.randrange(20, 330))


def _long_ago(c: Chart) -> dt.date:
    return c.ago(c.rng.randrange(800, 3000))


def _signal(c: Chart, code: str, day: dt.date, status: str = "final"):
    return c.obs(day, c.v.coding("af_signals", code), status=status)


def _pulse(c: Chart, day: dt.date):
    return _signal(c, c.rng.choice(PULSE_CODES), day)


def _medicine(c: Chart, drugs: tuple[str, ...], system_word: str):
    """A random oral anticoagulant coding of one of ``drugs`` in the given system (dm+d or RxNorm)."""
    rows = [r for r in c.v.rows("med_anticoagulant_oral")
            if r.get("drug") in drugs and (("rxnorm" in r["system"]) == (system_word == "rxnorm"))]
    r = rows[c.rng.randrange(len(rows))]
    return r["system"], r["code"], r["term"]


DOACS = ("apixaban", "rivaroxaban", "edoxaban", "dabigatran")
SYNTHEA_WARFARIN = "855332"


def _warfarin_rxnorm(c: Chart):
    return c.v.coding("med_anticoagulant_oral", SYNTHEA_WARFARIN)


def _af(c: Chart, onset: dt.date | None = None, **kw):
    code = c.rng.choice(("49436004", "49436004", "282825002", "440059007", "5370000"))
    return c.condition(c.v.pick("af", code), onset or _long_ago(c), **kw)


def _cond(c: Chart, listname: str, *codes: str, day: dt.date | None = None, **kw):
    return c.condition(c.v.pick(listname, c.rng.choice(codes) if codes else ""), day or _long_ago(c), **kw)


def _aged(c: Chart, years: int, days_after: int = 0):
    """Exactly ``years`` completed on as_of; ``days_after`` > 0 puts the birthday that many days ahead."""
    c.p["birth_date"] = add_years(c.as_of, -years) + dt.timedelta(days=days_after)
    if c.p["registration_start"] <= c.p["birth_date"]:
        c.p["registration_start"] = c.p["birth_date"] + dt.timedelta(days=10)


# §4a builds -----------------------------------------------------------------------------------

def _ecg(code="164889003", as_condition=False):
    def build(c: Chart):
        day = _within_year(c)
        if as_condition:
            c.condition(c.v.coding("af_signals", code), day)
        else:
            _signal(c, code, day)
    return build


def _device(c: Chart): _signal(c, "1105331000000106", _within_year(c))
def _irregular(c: Chart): _pulse(c, _within_year(c))


def _pulse_then_ecg(c: Chart):
    _pulse(c, c.ago(200))
    _signal(c, "164889003", c.ago(120))


def _pulse_and_device(c: Chart):
    _signal(c, "1105331000000106", c.ago(250))
    _pulse(c, c.ago(40))


def _on_day(day_of, write):
    def build(c: Chart):
        write(c, day_of(c))
    return build


def _af_resolved_then_ecg(c: Chart):
    onset = _long_ago(c)
    _af(c, onset)
    c.obs(onset + dt.timedelta(days=300), c.v.coding("af_resolved", "196371000000102"))
    _signal(c, "164889003", _within_year(c))


def _af_condition_resolved_then_pulse(c: Chart):
    onset = c.ago(2500)
    _af(c, onset, clinical="resolved", abatement=onset + dt.timedelta(days=400))
    _irregular(c)


def _af_refuted_then_pulse(c: Chart):
    _af(c, verification="refuted")
    _irregular(c)


def _dvt_then_pulse(c: Chart):
    _cond(c, "dvt", "128053003", "370248003")
    _irregular(c)


def _oac(drugs, system_word, day_of=_recent, n=1, status="completed", extra=None):
    def build(c: Chart):
        if extra:
            extra(c)
        coding = _medicine(c, drugs, system_word) if drugs else _warfarin_rxnorm(c)
        day = day_of(c)
        for k in range(n):
            c.issue(day - dt.timedelta(days=28 * k), coding, status=status)
    return build


def _oac_repeat(drugs, system_word, start=(300, 1500), end=None, status="active", extra=None, supply_days=None,
                style=None):
    """An oral anticoagulant on repeat (CLINICAL_RULES §0): started ``start`` days ago; ``end``: the
    validity period ended that many days ago (None: open). Dates keep off the 6-month edge, so the
    FHIR authorisation and the issues a GP extract shows for it agree."""
    def build(c: Chart):
        if extra:
            extra(c)
        coding = (_medicine(c, drugs, system_word) if drugs else
                  c.v.pick("med_anticoagulant_oral", "319735007") if system_word == "dmd_warfarin" else _warfarin_rxnorm(c))
        first = c.ago(c.rng.randrange(*start))
        last = c.ago(c.rng.randrange(*end)) if end else None
        c.authorisation(first, coding, end=last, status=status, supply_days=supply_days, style=style)
    return build


def _oac_stopped_first_day(c: Chart):
    c.authorisation(c.ago(c.rng.randrange(300, 400)), _doac(c), status="stopped")


def _oac_proposed(c: Chart):
    c.proposal(c.ago(c.rng.randrange(20, 100)), _doac(c))


def _six_months(c: Chart) -> dt.date:
    return add_months(c.as_of, -OAC_MONTHS)


def _dvt_refuted(c: Chart): _cond(c, "dvt", "128053003", verification="refuted")
def _dvt(c: Chart): _cond(c, "dvt", "128053003", "651000119108", "161508001")
def _pe(c: Chart): _cond(c, "pe", "59282003", "706870000")
def _valve(c: Chart): c.procedure(_long_ago(c), c.v.pick("valve_replacement", "1217005008"))


def _resolved_af(c: Chart):
    onset = _long_ago(c)
    _af(c, onset)
    c.obs(onset + dt.timedelta(days=200), c.v.coding("af_resolved", "196371000000102"))


def _af_rediagnosed_then_ecg(c: Chart):
    onset = c.ago(2800)
    _af(c, onset)
    c.obs(onset + dt.timedelta(days=300), c.v.coding("af_resolved", "196371000000102"))
    _af(c, onset + dt.timedelta(days=1500))
    _signal(c, "164889003", _within_year(c))


def _on_register_pulse(c: Chart):
    _af(c)
    _irregular(c)


def _young(years_minus_days, write):
    years, minus_days = years_minus_days

    def build(c: Chart):
        _aged(c, years, minus_days)
        write(c)
    return build


def _deceased(c: Chart):
    c.p["death_date"] = c.ago(30)
    _signal(c, "164889003", c.ago(90))


def _deregistered(c: Chart):
    c.p["registration_end"] = c.ago(30)
    _signal(c, "164889003", c.ago(90))


def _future_ecg(c: Chart):
    _signal(c, "164889003", c.as_of + dt.timedelta(days=10))


def _u(name, band, build, **kw) -> Scenario:
    return Scenario(f"{UNDIAGNOSED}: {name}", band, build, cohort=UNDIAGNOSED, **kw)


UNDIAGNOSED_SCENARIOS = [
    _u("ECG atrial fibrillation", ECG, _ecg("164889003"), ages=(55, 90)),
    _u("ECG atrial flutter", ECG, _ecg("164890007"), ages=(55, 90)),
    _u("ECG AF coded as a Condition", ECG, _ecg("164889003", as_condition=True), ages=(55, 90)),
    _u("device-detected AF", DEVICE, _device, ages=(55, 90)),
    _u("irregular pulse", PULSE, _irregular, ages=(55, 90)),
    _u("irregular pulse then ECG AF: ECG wins", ECG, _pulse_then_ecg, ages=(55, 90)),
    _u("device AF then irregular pulse: device wins", DEVICE, _pulse_and_device, ages=(55, 90)),
    _u("irregular pulse exactly 12 months ago", PULSE,
       _on_day(lambda c: add_months(c.as_of, -SIGNAL_MONTHS), _pulse), ages=(55, 90)),
    _u("ECG AF on the as-of date", ECG, _on_day(lambda c: c.as_of, lambda c, d: _signal(c, "164889003", d)),
       ages=(55, 90)),
    _u("AF resolved, new ECG AF", ECG, _af_resolved_then_ecg, ages=(60, 90)),
    _u("AF Condition resolved, irregular pulse", PULSE, _af_condition_resolved_then_pulse, ages=(60, 90)),
    _u("AF diagnosis refuted, irregular pulse", PULSE, _af_refuted_then_pulse, ages=(55, 90)),
    _u("irregular pulse with a DVT history", PULSE, _dvt_then_pulse, ages=(55, 90)),
    _u("DOAC (dm+d) with no indication", OAC_ONLY, _oac(DOACS, "dmd"), ages=(50, 90)),
    _u("DOAC (RxNorm) with no indication", OAC_ONLY, _oac(DOACS, "rxnorm"), ages=(50, 90)),
    _u("warfarin (Synthea RxNorm) with no indication", OAC_ONLY, _oac(None, "rxnorm"), ages=(50, 90)),
    _u("repeat DOAC issues with no indication", OAC_ONLY, _oac(DOACS, "dmd", n=4), ages=(50, 90)),
    _u("anticoagulant issued exactly 6 months ago", OAC_ONLY, _oac(DOACS, "dmd", day_of=_six_months), ages=(50, 90)),
    _u("anticoagulant with a refuted DVT", OAC_ONLY, _oac(DOACS, "dmd", extra=_dvt_refuted), ages=(50, 90)),
    _u("aged 18 on the as-of date, ECG AF", ECG, _young((18, 0), _ecg("164889003"))),
    _u("DOAC on repeat, no indication", OAC_ONLY, _oac_repeat(DOACS, "dmd"), ages=(50, 90)),
    _u("warfarin (Synthea RxNorm) on repeat, no indication", OAC_ONLY, _oac_repeat(None, "rxnorm"), ages=(50, 90)),
    _u("DOAC repeat that ended 3 months ago, no indication", OAC_ONLY,
       _oac_repeat(DOACS, "dmd", start=(300, 700), end=(80, 110), status="completed"), ages=(50, 90)),
    # near misses
    _u("near miss: ECG AF 12 months and 1 day ago", None,
       _on_day(lambda c: add_months(c.as_of, -SIGNAL_MONTHS) - dt.timedelta(days=1),
               lambda c, d: _signal(c, "164889003", d)), ages=(55, 90)),
    _u("near miss: anticoagulant 6 months and 1 day ago", None,
       _oac(DOACS, "dmd", day_of=lambda c: _six_months(c) - dt.timedelta(days=1)), ages=(50, 90)),
    _u("near miss: on the AF register, irregular pulse", None, _on_register_pulse, ages=(60, 90)),
    _u("near miss: AF resolved then diagnosed again, ECG AF", None, _af_rediagnosed_then_ecg, ages=(60, 90)),
    _u("near miss: anticoagulant with a DVT", None, _oac(DOACS, "dmd", extra=_dvt), ages=(40, 90)),
    _u("near miss: anticoagulant with a PE", None, _oac(DOACS, "rxnorm", extra=_pe), ages=(40, 90)),
    _u("near miss: warfarin with a valve replacement", None, _oac(None, "rxnorm", extra=_valve), ages=(50, 90)),
    _u("near miss: anticoagulant with resolved AF", None, _oac(DOACS, "dmd", extra=_resolved_af), ages=(60, 90)),
    _u("near miss: anticoagulant entered in error", None, _oac(DOACS, "dmd", status="entered-in-error"),
       ages=(50, 90)),
    _u("near miss: anticoagulant cancelled", None, _oac(DOACS, "dmd", status="cancelled"), ages=(50, 90)),
    _u("near miss: DOAC repeat that ended 8 months ago", None,
       _oac_repeat(DOACS, "dmd", start=(400, 900), end=(240, 300), status="completed"), ages=(50, 90)),
    _u("near miss: DOAC repeat cancelled", None, _oac_repeat(DOACS, "dmd", status="cancelled"), ages=(50, 90)),
    _u("near miss: anticoagulant only proposed", None, _oac_proposed, ages=(50, 90)),
    _u("near miss: DOAC on repeat with a DVT", None, _oac_repeat(DOACS, "rxnorm", extra=_dvt), ages=(40, 90)),
    _u("near miss: irregular pulse entered in error", None,
       lambda c: _signal(c, "361137007", _within_year(c), status="entered-in-error"), ages=(55, 90)),
    _u("near miss: ECG AF after the as-of date", None, _future_ecg, ages=(55, 90)),
    _u("near miss: aged 17 (18 tomorrow), ECG AF", None, _young((18, 1), _ecg("164889003"))),
    _u("near miss: deceased", None, _deceased, ages=(60, 90)),
    _u("near miss: deregistered", None, _deregistered, ages=(55, 90)),
]


# §4b builds -----------------------------------------------------------------------------------

def _registered(*factors, oac=None, after=None):
    """On the AF register, with each factor written; ``oac``: (coding_of, day_of) for an issue."""
    def build(c: Chart):
        _af(c)
        for factor in factors:
            factor(c)
        if oac:
            coding_of, day_of, *status = oac
            c.issue(day_of(c), coding_of(c), status=status[0] if status else "completed")
        if after:
            after(c)
    return build


def _htn(c: Chart): _cond(c, "hypertension", "38341003", "59621000")
def _diab(c: Chart): _cond(c, "diabetes", "44054006", "46635009")
def _hf(c: Chart): _cond(c, "heart_failure", "84114007", "88805009", "703272007")
def _stroke(c: Chart): _cond(c, "stroke_tia", "230690007", "422504002", "266257000")
def _embolism(c: Chart): _cond(c, "thromboembolism", "54687002", "312378004")
def _mi(c: Chart): _cond(c, "myocardial_infarction", "22298006", "399211009", "1755008")
def _pad(c: Chart): _cond(c, "pad", "840580004", "400047006")
def _angina(c: Chart): _cond(c, "chd", "194828000", "233819005")


def _htn_resolved(c: Chart):
    onset = c.ago(2500)
    _cond(c, "hypertension", "38341003", day=onset)
    c.obs(onset + dt.timedelta(days=600), c.v.coding("hypertension_resolved", "162659009"))


def _hf_refuted(c: Chart): _cond(c, "heart_failure", "84114007", verification="refuted")


def _at_age(years, days_after=0):
    return lambda c: _aged(c, years, days_after)


def _doac(c: Chart): return _medicine(c, DOACS, c.rng.choice(("dmd", "rxnorm")))


def _af_code_resolved(c: Chart):
    c.obs(c.ago(200), c.v.coding("af_resolved", "196371000000102"))


def _af_condition_resolved(c: Chart):
    onset = c.ago(2000)
    _af(c, onset, clinical="resolved", abatement=onset + dt.timedelta(days=300))
    _htn(c)


def _af_refuted(c: Chart):
    _af(c, verification="refuted")
    _htn(c)


def _af_rediagnosed(c: Chart):
    c.obs(c.ago(900), c.v.coding("af_resolved", "196371000000102"))
    _af(c, c.ago(300))


def _palliative(c: Chart): c.procedure(c.ago(120), c.v.pick("palliative", "103735009"))


def _died(c: Chart): c.p["death_date"] = c.ago(40)
def _left(c: Chart): c.p["registration_end"] = c.ago(40)


def _a(name, band, build, **kw) -> Scenario:
    return Scenario(f"{ANTICOAGULATION}: {name}", band, build, cohort=ANTICOAGULATION, **kw)


L4B = NOT_ANTICOAGULATED
ANTICOAGULATION_SCENARIOS = [
    _a("man aged 75+ (score 2), never anticoagulated", L4B, _registered(), sex="male", ages=(76, 92)),
    _a("man aged 75 on the as-of date (score 2)", L4B, _registered(_at_age(75)), sex="male", ages=(75, 75)),
    _a("woman 65-74 with hypertension (score 3)", L4B, _registered(_htn), sex="female", ages=(65, 74)),
    _a("man aged 65 on the as-of date with hypertension (score 2)", L4B, _registered(_htn, _at_age(65)),
       sex="male", ages=(65, 65)),
    _a("woman under 65 with hypertension (score 2)", L4B, _registered(_htn), sex="female", ages=(40, 64)),
    _a("man under 65 with stroke or TIA (score 2)", L4B, _registered(_stroke), sex="male", ages=(40, 64)),
    _a("man under 65 with systemic embolism (score 2)", L4B, _registered(_embolism), sex="male", ages=(40, 64)),
    _a("man under 65 with heart failure and diabetes (score 2)", L4B, _registered(_hf, _diab), sex="male",
       ages=(40, 64)),
    _a("man under 65 with MI and hypertension (score 2)", L4B, _registered(_mi, _htn), sex="male", ages=(40, 64)),
    _a("man under 65 with PAD and diabetes (score 2)", L4B, _registered(_pad, _diab), sex="male", ages=(40, 64)),
    _a("woman 75+ with many risk factors", L4B, _registered(_htn, _diab, _hf, _stroke, _mi), sex="female",
       ages=(75, 92)),
    _a("anticoagulant stopped 6 months and 1 day ago", L4B,
       _registered(oac=(_doac, lambda c: _six_months(c) - dt.timedelta(days=1))), sex="female", ages=(76, 90)),
    _a("Synthea warfarin stopped years ago", L4B, _registered(_htn, oac=(_warfarin_rxnorm, lambda c: c.ago(1500))),
       sex="male", ages=(76, 90)),
    _a("anticoagulant issue entered in error", L4B,
       _registered(oac=(_doac, lambda c: c.ago(40), "entered-in-error")), sex="female", ages=(76, 90)),
    _a("AF resolved then diagnosed again", L4B, _af_rediagnosed, sex="male", ages=(76, 90)),
    _a("warfarin repeat stopped 8 months ago", L4B,
       _registered(after=_oac_repeat(None, "dmd_warfarin", start=(500, 2000), end=(240, 300), status="stopped")),
       sex="female", ages=(76, 90)),
    _a("anticoagulant repeat stopped on its first day a year ago", L4B, _registered(after=_oac_stopped_first_day),
       sex="male", ages=(76, 90)),
    _a("anticoagulant only proposed", L4B, _registered(after=_oac_proposed), sex="female", ages=(76, 90)),
    _a("DOAC repeat cancelled", L4B, _registered(after=_oac_repeat(DOACS, "dmd", status="cancelled")),
       sex="female", ages=(76, 90)),
    # near misses
    _a("near miss: man under 65 with hypertension only (score 1)", None, _registered(_htn), sex="male",
       ages=(40, 64)),
    _a("near miss: woman under 65, no other factor (score 1)", None, _registered(), sex="female", ages=(30, 64)),
    _a("near miss: man 65 tomorrow with hypertension (score 1)", None, _registered(_htn, _at_age(65, 1)),
       sex="male", ages=(64, 64)),
    _a("near miss: man 75 tomorrow (score 1)", None, _registered(_at_age(75, 1)), sex="male", ages=(74, 74)),
    _a("near miss: angina is not vascular disease (score 1)", None, _registered(_angina, _htn), sex="male",
       ages=(40, 64)),
    _a("near miss: hypertension resolved, diabetes (score 1)", None, _registered(_htn_resolved, _diab), sex="male",
       ages=(40, 64)),
    _a("near miss: heart failure refuted, hypertension (score 1)", None, _registered(_hf_refuted, _htn), sex="male",
       ages=(40, 64)),
    _a("near miss: DOAC issued 2 months ago", None, _registered(oac=(_doac, lambda c: c.ago(60))), sex="female",
       ages=(76, 90)),
    _a("near miss: Synthea warfarin issued exactly 6 months ago", None,
       _registered(oac=(_warfarin_rxnorm, _six_months)), sex="male", ages=(76, 90)),
    _a("near miss: long-term warfarin authorised years ago, still active", None,
       _registered(after=_oac_repeat(None, "dmd_warfarin", start=(1500, 3500))), sex="female", ages=(76, 92)),
    _a("near miss: Synthea warfarin order authored years ago, still active", None,
       _registered(after=_oac_repeat(None, "rxnorm", start=(1500, 3500), style="active_order")), sex="male",
       ages=(76, 92)),
    _a("near miss: DOAC repeat that ended 2 months ago", None,
       _registered(after=_oac_repeat(DOACS, "dmd", start=(300, 700), end=(50, 70), status="completed")),
       sex="female", ages=(76, 90)),
    _a("near miss: warfarin on repeat of 84-day supplies", None,
       _registered(after=_oac_repeat(None, "dmd_warfarin", start=(200, 900), supply_days=84)), sex="male", ages=(76, 90)),
    _a("near miss: palliative care", None, _registered(_palliative), sex="female", ages=(76, 92)),
    _a("near miss: AF resolved code", None, _registered(after=_af_code_resolved), sex="female", ages=(76, 90)),
    _a("near miss: AF Condition resolved", None, _af_condition_resolved, sex="female", ages=(76, 90)),
    _a("near miss: AF diagnosis refuted", None, _af_refuted, sex="female", ages=(76, 90)),
    _a("near miss: deceased", None, _registered(after=_died), sex="female", ages=(76, 90)),
    _a("near miss: deregistered", None, _registered(after=_left), sex="female", ages=(76, 90)),
]

SCENARIOS = UNDIAGNOSED_SCENARIOS + ANTICOAGULATION_SCENARIOS
__all__ = ["SCENARIOS", "TRUTHS", "cha2ds2_vasc"]
