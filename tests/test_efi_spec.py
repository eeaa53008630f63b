"""Spec tests for the electronic Frailty Index (CLINICAL_RULES §8, Clegg 2016): tiny hand-built records,
one patient per case, one answer each, read from the shared spec record's facts."""
from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from builders import AS_OF, months_ago
from engine.codelists import load_codelist
from engine.codes import RXNORM, SNOMED
from engine.features.facts import EFI_BANDS as BANDS, EFI_DEFICITS as DEFICITS, EFI_N_DEFICITS as N_DEFICITS, \
    EFI_POLYPHARMACY as POLYPHARMACY, efi_band as band
from spec import Spec

RECENT = months_ago(2)
LONG_AGO = dt.date(2012, 5, 1)


def first_code(codelist: str) -> tuple[str, str]:
    row = load_codelist(codelist).rows[0]
    return row["system"], row["code"]


def code_of(codelist: str, code: str) -> tuple[str, str]:
    assert (SNOMED, code) in load_codelist(codelist).pairs(), (codelist, code)
    return SNOMED, code


ANAEMIA, IRON_DEFICIENCY, PERNICIOUS = (code_of("efi_anaemia", c) for c in ("271737000", "87522002", "84027009"))
DEMENTIA = code_of("efi_memory_cognitive", "52448006")
FALL, RECURRENT_FALLS = code_of("falls", "1912002"), code_of("falls", "279992002")
HYPERTENSION = code_of("hypertension", "38341003")
LIVES_ALONE = code_of("efi_social_vulnerability", "105529008")
NURSING_HOME = code_of("efi_care_requirement", "160734000")
CODED = [(deficit, codelist) for deficit, codelist, windowed in DEFICITS if not windowed]

# pid → expected (deficits, deficit names or None), with the record that earns it
SPEC = Spec("efi", age=80)


def case(pid, deficits, names=None):
    """A case named ``pid`` (not the builder's name: the ids read as sentences)."""
    def register(build):
        SPEC.add(pid, (deficits, names), build)
        return build
    return register


def medicines(p, pid, n, day=RECENT, start=0):
    """n distinct medicines (codes in no codelist), one issue each."""
    for k in range(start, start + n):
        p.medication(pid, (SNOMED, f"9100000{k:02d}"), day)


def coded(p, pid, k, day=LONG_AGO):
    """The first k non-windowed deficits, one code each."""
    for _, codelist in CODED[:k]:
        p.event(pid, first_code(codelist), day, kind="condition")


# every coded deficit counts from one code in its list, dated long ago ("first occurrence ever")
for _deficit, _codelist in CODED:
    case(f"coded-{_codelist}", 1, [_deficit])(
        lambda p, pid, cl=_codelist: p.event(pid, first_code(cl), LONG_AGO, kind="condition"))


@case("none", 0, [])
def none(p, pid): pass


@case("resolved-condition-still-counts", 1, ["memory/cognitive problems"])
def resolved_condition(p, pid):
    p.diagnosis(pid, DEMENTIA, LONG_AGO)
    p.diagnosis(pid, DEMENTIA, LONG_AGO + dt.timedelta(days=300), status="resolved")


@case("refuted-not-counted", 0, [])
def refuted(p, pid): p.diagnosis(pid, DEMENTIA, LONG_AGO, status="refuted")


@case("entered-in-error-not-counted", 0, [])
def entered_in_error(p, pid): p.event(pid, ANAEMIA, RECENT, status="entered-in-error")


@case("after-as-of-not-counted", 0, [])
def after_as_of(p, pid): p.event(pid, ANAEMIA, AS_OF + dt.timedelta(days=1))


@case("on-as-of-counts", 1, ["anaemia"])
def on_as_of(p, pid): p.event(pid, ANAEMIA, AS_OF)


@case("one-deficit-many-codes-counts-once", 1, ["anaemia"])
def many_codes(p, pid):
    for k, coding in enumerate((ANAEMIA, IRON_DEFICIENCY, PERNICIOUS, ANAEMIA)):
        p.event(pid, coding, LONG_AGO + dt.timedelta(days=100 * k))


@case("three-deficits", 3, ["hypertension", "requirement for care", "social vulnerability"])
def three(p, pid):
    p.diagnosis(pid, HYPERTENSION, LONG_AGO)
    p.event(pid, NURSING_HOME, RECENT)
    p.event(pid, LIVES_ALONE, RECENT)


# falls: a fall code in the last 12 months only
@case("fall-recent", 1, ["falls"])
def fall_recent(p, pid): p.diagnosis(pid, FALL, RECENT)


@case("fall-exactly-12-months-ago", 1, ["falls"])
def fall_edge(p, pid): p.event(pid, RECURRENT_FALLS, months_ago(12))


@case("fall-12-months-and-a-day-ago", 0, [])
def fall_old(p, pid): p.diagnosis(pid, FALL, months_ago(12, days=1))


@case("fall-long-ago-not-ever", 0, [])
def fall_long_ago(p, pid): p.diagnosis(pid, FALL, LONG_AGO)


@case("fall-two-years-ago-resolved-recently", 0, [])
def fall_resolved(p, pid):      # the resolved row is dated at abatement, not at a fall
    p.diagnosis(pid, FALL, months_ago(24))
    p.diagnosis(pid, FALL, months_ago(3), status="resolved")


@case("fall-refuted", 0, [])
def fall_refuted(p, pid): p.diagnosis(pid, FALL, RECENT, status="refuted")


# polypharmacy: >= 5 distinct medicines issued in the last 12 months
@case("poly-5", 1, [POLYPHARMACY])
def poly_5(p, pid): medicines(p, pid, 5)


@case("poly-4", 0, [])
def poly_4(p, pid): medicines(p, pid, 4)


@case("poly-5th-exactly-12-months-ago", 1, [POLYPHARMACY])
def poly_edge(p, pid):
    medicines(p, pid, 4)
    medicines(p, pid, 1, day=months_ago(12), start=4)


@case("poly-5th-12-months-and-a-day-ago", 0, [])
def poly_old(p, pid):
    medicines(p, pid, 4)
    medicines(p, pid, 1, day=months_ago(12, days=1), start=4)


@case("poly-repeat-issues-are-one-medicine", 0, [])
def poly_repeats(p, pid):
    medicines(p, pid, 4)
    medicines(p, pid, 4, day=months_ago(6))


@case("poly-dual-coded-issue-counts-once", 0, [])
def poly_dual(p, pid):
    medicines(p, pid, 3)
    sid = f"MedicationRequest/dual-{pid}"
    p.medication(pid, (SNOMED, "910000077"), RECENT, source_id=sid)
    p.medication(pid, (RXNORM, "197361"), RECENT, source_id=sid)


@case("poly-cancelled-issue-not-counted", 0, [])
def poly_cancelled(p, pid):
    medicines(p, pid, 4)
    p.medication(pid, (SNOMED, "910000088"), RECENT, status="cancelled")


@case("poly-after-as-of-not-counted", 0, [])
def poly_future(p, pid):
    medicines(p, pid, 4)
    p.medication(pid, (SNOMED, "910000088"), AS_OF + dt.timedelta(days=1))


# bands by deficit count: fit ≤ 0.12 (4/36), mild ≤ 0.24 (8/36), moderate ≤ 0.36 (12/36), severe beyond
for _k in (4, 5, 8, 9, 12, 13, 20):
    case(f"k{_k}", _k)(lambda p, pid, k=_k: coded(p, pid, k))


@case("k13-with-polypharmacy-and-fall", 13)
def k13_mixed(p, pid):
    coded(p, pid, 11)
    medicines(p, pid, 5)
    p.diagnosis(pid, FALL, RECENT)


@pytest.fixture(scope="module")
def result(spec_record):
    return SPEC.fact_rows(spec_record, "efi", "efi_deficits", "efi_band", "efi_deficit_list")


def test_one_row_per_patient(result):
    assert sorted(result) == sorted(SPEC.cases)


@pytest.mark.parametrize("pid", list(SPEC.cases))
def test_deficits(result, pid):
    deficits, names = SPEC.cases[pid].expected
    row = result[pid]
    assert row["efi_deficits"] == deficits, row["efi_deficit_list"]
    assert row["efi"] == pytest.approx(deficits / 36)
    if names is not None:
        assert row["efi_deficit_list"] == ", ".join(sorted(names))


@pytest.mark.parametrize("pid, expected", [
    ("none", "fit"), ("k4", "fit"), ("k5", "mild"), ("k8", "mild"), ("k9", "moderate"),
    ("k12", "moderate"), ("k13", "severe"), ("k20", "severe"), ("k13-with-polypharmacy-and-fall", "severe")])
def test_band_by_deficit_count(result, pid, expected):
    assert result[pid]["efi_band"] == expected


def test_near_severe_boundary_values(result):
    assert result["k12"]["efi"] == pytest.approx(0.3333, abs=1e-4) and result["k12"]["efi"] <= 0.36
    assert result["k13"]["efi"] == pytest.approx(0.3611, abs=1e-4) and result["k13"]["efi"] > 0.36


@pytest.mark.parametrize("value, expected", [
    (0.0, "fit"), (0.12, "fit"), (0.1201, "mild"), (0.24, "mild"), (0.2401, "moderate"),
    (0.36, "moderate"), (0.3601, "severe"), (1.0, "severe")])
def test_band_thresholds_exactly(spark, value, expected):
    got = spark.range(1).select(band(F.lit(value)).alias("b")).first()["b"]
    assert got == expected


def test_deficit_table_is_the_36_of_clegg():
    names = [d for d, _, _ in DEFICITS] + [POLYPHARMACY]
    assert len(names) == N_DEFICITS == len(set(names)) == 36
    assert [d for d, _, windowed in DEFICITS if windowed] == ["falls"]
    assert BANDS == (("fit", 0.12), ("mild", 0.24), ("moderate", 0.36))


@pytest.mark.parametrize("deficit, codelist", [(d, c) for d, c, _ in DEFICITS])
def test_every_codelist_loads_and_is_sourced(deficit, codelist):
    cl = load_codelist(codelist)
    assert len(cl) > 0 and "source" in cl.source.lower()
