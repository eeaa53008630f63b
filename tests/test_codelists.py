"""The codelists: each names where it comes from, each code is a well-formed identifier of its
system, and ``casefind codelists`` reports every list.

The identifier checks are tested first against known-good and known-bad ids, so a check that
passes everything cannot hide behind the list tests.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.codelists import (code_ok, codelist_info, codelist_infos, invalid_codes, load_codelist, loinc_ok,
                              parse_header, rxnorm_ok, snomed_ok, verhoeff_ok)
from engine.codes import LOINC, RXNORM, SNOMED
from engine.config import REPO_CONF

CODELISTS = REPO_CONF / "codelists"
NAMES = sorted(p.stem for p in CODELISTS.glob("*.csv"))
UK_ETHNIC_CATEGORY = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory"

# A diagnosis list and its resolved list never share a code (CLINICAL_RULES §0 "on a register").
RESOLVED = [("hypertension", "hypertension_resolved"), ("diabetes", "diabetes_resolved"),
            ("asthma", "asthma_resolved"), ("af", "af_resolved")]


def casefind(*args):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=120)


def check_digit(body: str) -> str:
    """The Verhoeff check digit that makes ``body + digit`` valid (found by trying all ten)."""
    return next(d for d in "0123456789" if verhoeff_ok(body + d))


# -- the checks themselves ---------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["38341003", "59621000", "1201005", "843821000000102", "908651000000101",
                                  "120041000119109", "16896891000119106", "1239511000000100", "319283006",
                                  "13892511000001100", "489609371000119104"])
def test_known_snomed_ids_pass(code):
    assert verhoeff_ok(code) and snomed_ok(code) and code_ok(SNOMED, code) and code_ok("snomedct", code)


@pytest.mark.parametrize("code,why", [
    ("38341004", "wrong check digit"),
    ("38341030", "two digits swapped"),
    ("843821000000103", "wrong check digit (UK extension id)"),
    ("038341003", "leading zero"),
    ("12345", "shorter than 6 digits"),
    ("1234567890123456789", "longer than 18 digits"),
    ("3834100A", "not all digits"),
    ("", "empty"),
    ("38341003 ", "trailing blank"),
])
def test_bad_snomed_ids_fail(code, why):
    assert not snomed_ok(code), why
    assert not code_ok(SNOMED, code), why


def test_every_single_digit_error_and_adjacent_swap_is_caught():
    """Verhoeff's promise: no single wrong digit and no swap of two neighbouring digits goes unseen."""
    for code in ("38341003", "843821000000102", "1239511000000100"):
        assert verhoeff_ok(code)
        for i, ch in enumerate(code):
            for d in "0123456789":
                if d != ch:
                    assert not verhoeff_ok(code[:i] + d + code[i + 1:]), (code, i, d)
        for i in range(len(code) - 1):
            if code[i] != code[i + 1]:
                assert not verhoeff_ok(code[:i] + code[i + 1] + code[i] + code[i + 2:]), (code, i)


def test_check_digits_of_known_ids_are_recomputed():
    for code in ("38341003", "59621000", "843821000000102", "120041000119109"):
        assert check_digit(code[:-1]) == code[-1]


def test_only_concept_partitions_pass():
    """A well-formed id of another component (description 01/11, relationship 02/12) is not a concept."""
    for body in ("4567801", "4567802", "4567100000011", "4567100000012"):  # item id [+ namespace] + partition
        code = body + check_digit(body)
        assert verhoeff_ok(code) and not snomed_ok(code), code
    assert snomed_ok("4567800" + check_digit("4567800"))                 # same item, concept partition 00
    assert snomed_ok("4567100000010" + check_digit("4567100000010"))     # same item, extension concept 10


def test_extension_ids_need_a_namespace():
    """Partition 10 (an extension concept) carries a 7-digit namespace: at least 11 digits in all."""
    short = "123410" + check_digit("123410")
    assert verhoeff_ok(short) and not snomed_ok(short)
    body = "1" + "1000000" + "10"
    assert snomed_ok(body + check_digit(body))


@pytest.mark.parametrize("code", ["8480-6", "8462-4", "2093-3", "18262-6", "33762-6", "85354-9", "55284-4",
                                  "13457-7", "14647-2", "777-3", "2857-1"])
def test_known_loinc_codes_pass(code):
    assert loinc_ok(code) and code_ok(LOINC, code) and code_ok("http://loinc.org", code)


@pytest.mark.parametrize("code", ["8480-5", "8480-7", "8462-5", "4808-6", "8480", "84806", "8480-66", "-6",
                                  "8480_6", "12345678-9", "8480-6 "])
def test_bad_loinc_codes_fail(code):
    assert not loinc_ok(code) and not code_ok(LOINC, code)


def test_rxnorm_ids():
    for good in ("197604", "1049502", "3407", "12345678"):
        assert rxnorm_ok(good) and code_ok(RXNORM, good)
    for bad in ("123456789", "0197604", "19760A", "", "-197604", "1.5"):
        assert not rxnorm_ok(bad) and not code_ok(RXNORM, bad)


def test_ethnic_category_letters_and_unknown_systems():
    assert code_ok(UK_ETHNIC_CATEGORY, "A") and code_ok(UK_ETHNIC_CATEGORY, "Z")
    assert not code_ok(UK_ETHNIC_CATEGORY, "I") and not code_ok(UK_ETHNIC_CATEGORY, "AA")
    assert not code_ok("http://hl7.org/fhir/sid/icd-10", "I10")            # a system with no check is not valid


def test_header_parsing():
    head = parse_header([
        "Some list.",
        "Source: owner/repo codelists/a.csv @ 0123456789abcdef0123456789abcdef01234567",
        "Version: owner/a/20250101 (named in codelists.txt; same file since 0123456)",
        "Source: other/repo codelists/b.csv @ fedcba9",
        "Source: third/repo codelists/c.csv @ abcdef0",
        "Version: owner/b/1; owner/c/2",
        "Published rows: 12; kept beyond the published list: 3 (core members)",
    ])
    assert [(s.repository, s.path, s.commit[:7], s.version) for s in head["sources"]] == [
        ("owner/repo", "codelists/a.csv", "0123456", "owner/a/20250101"),
        ("other/repo", "codelists/b.csv", "fedcba9", "owner/b/1"),
        ("third/repo", "codelists/c.csv", "abcdef0", "owner/c/2")]
    assert (head["published_rows"], head["kept_rows"], head["no_counterpart"]) == (12, 3, "")
    none = parse_header(["No published counterpart: CLINICAL_RULES.md §1 (160689007)"])
    assert none["sources"] == () and none["no_counterpart"] == "CLINICAL_RULES.md §1 (160689007)"
    assert parse_header(["Source: none published; CLINICAL_RULES.md §6"])["no_counterpart"] == "CLINICAL_RULES.md §6"
    assert parse_header(["Source: CLINICAL_RULES.md §3 core members"]) == {
        "sources": (), "no_counterpart": "", "published_rows": None, "kept_rows": None}


def test_invalid_codes_names_the_bad_rows(tmp_path):
    (tmp_path / "x.csv").write_text("# Source: a/b c.csv @ 1234567\ncode,term,system\n38341003,ok,snomedct\n"
                                    "38341004,bad,snomedct\n8480-5,bad,loinc\n197604,ok,rxnorm\n")
    assert invalid_codes(load_codelist("x", tmp_path)) == [(SNOMED, "38341004"), (LOINC, "8480-5")]


# -- the lists -------------------------------------------------------------------------------------

def test_there_are_codelists():
    assert len(NAMES) > 30 and {"hypertension", "ethnicity", "care_home_residence", "smr"} <= set(NAMES)


def test_every_list_names_its_source():
    """Repository, path and commit of the published list, or an explicit 'no published counterpart'
    line saying where the codes come from."""
    missing = []
    for name in NAMES:
        info = codelist_info(CODELISTS / f"{name}.csv")
        named = info.sources and all(s.repository and s.path and s.commit for s in info.sources)
        if not named and len(info.no_counterpart) < 10:
            missing.append(name)
    assert not missing, f"no Source (repository path @ commit) or 'No published counterpart:' line: {missing}"


def test_header_row_counts_match_the_rows():
    wrong = []
    for info in codelist_infos(CODELISTS):
        if info.published_rows is not None and info.kept_rows is not None \
                and info.published_rows + info.kept_rows != info.rows:
            wrong.append((info.name, info.published_rows, info.kept_rows, info.rows))
    assert not wrong, f"'Published rows' + 'kept beyond' is not the number of rows: {wrong}"


def test_every_code_is_a_valid_identifier_of_its_system():
    bad = {name: invalid_codes(load_codelist(name, CODELISTS)) for name in NAMES}
    bad = {name: rows for name, rows in bad.items() if rows}
    assert not bad, f"codes that are not valid identifiers of their system: {bad}"


def test_no_list_repeats_a_code():
    lists = {name: load_codelist(name, CODELISTS) for name in NAMES}
    repeated = {name: len(cl) - len(cl.pairs()) for name, cl in lists.items() if len(cl) != len(cl.pairs())}
    assert not repeated, f"rows repeating a (system, code) already in the list: {repeated}"


@pytest.mark.parametrize("diagnosis,resolved", RESOLVED)
def test_resolved_lists_share_no_code_with_their_diagnosis_list(diagnosis, resolved):
    assert not load_codelist(diagnosis, CODELISTS).pairs() & load_codelist(resolved, CODELISTS).pairs()


# -- casefind codelists ----------------------------------------------------------------------------

def test_casefind_codelists_names_every_list_with_its_row_count():
    res = casefind("codelists")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ROWS", "SYSTEMS", "SHA256", "SOURCE", "VERSION"]
    # a list's own line starts with its name; a further source continues on an indented line
    by_name = {line.split()[0]: line.split() for line in lines[1:-1] if not line.startswith(" ")}
    assert sorted(by_name) == NAMES
    for name in NAMES:
        cells = by_name[name]
        path = CODELISTS / f"{name}.csv"
        assert cells[1] == str(len(load_codelist(name, CODELISTS))), (name, cells)      # ROWS, SYSTEMS, SHA256
        assert cells[3] == hashlib.sha256(path.read_bytes()).hexdigest(), name
    hyp = by_name["hypertension"]
    info = codelist_info(CODELISTS / "hypertension.csv")
    assert f"{info.sources[0].repository}/{info.sources[0].path}@{info.sources[0].commit[:7]}" in hyp
    assert info.sources[0].version in hyp and "snomedct" in hyp
    assert lines[-1].startswith(f"{len(NAMES)} codelists")


def test_casefind_codelists_json_has_every_field():
    res = casefind("codelists", "--json")
    assert res.returncode == 0, res.stderr
    got = {d["name"]: d for d in json.loads(res.stdout)}
    assert sorted(got) == NAMES
    eth = got["ethnicity"]
    assert eth["rows"] == len(load_codelist("ethnicity", CODELISTS))
    assert eth["sources"] and {"repository", "path", "commit", "version"} <= set(eth["sources"][0])
    assert "uk-ethnic-category" in eth["systems"] and "snomedct" in eth["systems"]
    assert eth["sha256"] == hashlib.sha256(Path(eth["path"]).read_bytes()).hexdigest()
    assert got["tendon_xanthoma"]["rows"] == 0 and got["tendon_xanthoma"]["no_counterpart"]
