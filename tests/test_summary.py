"""summary.html per PCN: self-contained, counts only (no identifiers), suppressed, escaped, deterministic.

No Spark: a tiny hand-built out folder (worklist CSVs, gap_profile.csv) and manifest in tmp_path.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from engine.worklists.csv_file import write_csv
from engine.worklists.summary import write_summaries

HEADER = ["rank", "patient_id", "nhs_number", "name", "birth_date", "band", "reason", "ethnicity_group", "imd_decile"]
GAP_HEADER = ["cohort", "dimension", "group", "eligible", "listed", "rate_per_1000", "gap_role", "largest_gap"]


def _people(prefix: str, n: int, band: str, decile, ethnicity: str, start: int = 1):
    return [[start + i, f"{prefix}-{i:04d}", f"999 000 {i:04d}", f"SURNAME{prefix.upper()}{i}, Given",
             f"1950-01-{(i % 28) + 1:02d}", band, "a reason", ethnicity, decile] for i in range(n)]


MANIFEST = {
    "as_of": "2025-03-31",
    "pcns": ["U11111", "U22222"],
    "cohorts": {"hypertension": {"title": "Undiagnosed hypertension"},
                "anticipatory_care": {"title": "Anticipatory care"}},
    "risk_model": {"status": "trained on this input (features a year before as_of)", "family": "logistic regression",
                   "not_qadmissions": "Not QAdmissions: trained on synthetic data.",
                   "held_out": {"auroc": 0.7812, "oracle_auroc": 0.7925, "brier": 0.0612,
                                "calibration_slope": 0.97, "calibration_intercept": -0.02, "n": 1200, "events": 96}},
}


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("out")
    pcn = root / "U11111"
    # hypertension: 12 severe in quintile 1 (deciles 1-2), White; 3 stage-2 in quintile 5, Asian
    rows = _people("ht", 12, "severe", 1, "White") + _people("hx", 3, "stage2", 10, "Asian", start=13)
    write_csv(pcn / "hypertension.csv", HEADER, rows)
    # anticipatory care: 9 people, one band value that needs escaping
    write_csv(pcn / "anticipatory_care.csv", HEADER, _people("ac", 9, "<script>alert(1)</script>", "", "Black"))
    write_csv(pcn / "inequalities.csv", HEADER, _people("iq", 2, "urgent", 2, "Mixed"))
    gap = [["hypertension", "IMD quintile", g, e, l, r, role, "IMD quintile 1 vs 5: 40.0 vs 10.0 per 1,000 (4.0×)"]
           for g, e, l, r, role in [("1", "300", "10", "33.3", "highest"), ("2", "200", "<8", "", ""),
                                    ("3", "<8", "<8", "", ""), ("4", "100", "<8", "", ""),
                                    ("5", "500", "10", "20", "lowest"), ("unknown", "<8", "<8", "", "")]]
    gap += [["hypertension", "ethnic group", g, "100", "<8", "", "", "none named: fewer than two ethnic groups "
             "have a rate that can be shown"] for g in ["White", "Mixed", "Asian", "Black", "Other", "Unknown"]]
    write_csv(pcn / "gap_profile.csv", GAP_HEADER, gap)
    # the second PCN has nothing written but must still get a page
    (root / "U22222").mkdir()
    write_summaries(root, MANIFEST)
    return root


@pytest.fixture(scope="module")
def page(out) -> str:
    return (out / "U11111" / "summary.html").read_text(encoding="utf-8")


def test_a_page_per_pcn_with_title_and_as_of(out, page):
    assert [p.relative_to(out).as_posix() for p in write_summaries(out, MANIFEST)] == \
        ["U11111/summary.html", "U22222/summary.html"]
    assert "U11111" in page and "2025-03-31" in page
    other = (out / "U22222" / "summary.html").read_text(encoding="utf-8")
    assert "not written" in other and "U22222" in other


def test_no_identifiable_data(page):
    for prefix in ("ht", "hx", "ac", "iq"):
        assert f"{prefix}-0000" not in page and f"SURNAME{prefix.upper()}" not in page
    assert "999 000" not in page and "1950-01" not in page and "a reason" not in page


def test_counts_per_worklist_and_band(page):
    flat = re.sub(r"<[^>]+>", " ", page)
    assert re.search(r"hypertension\.csv\s+15\s+severe: 12; stage2: 3", flat)
    assert re.search(r"anticipatory_care\.csv\s+9\s", flat)
    assert re.search(r"inequalities\.csv\s+2\s+urgent: 2", flat)


def test_composition_is_suppressed_below_8_and_rounded_to_5(page):
    flat = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    # by IMD quintile: hypertension 12 in quintile 1 shown as 10, 3 in quintile 5 suppressed;
    # anticipatory care 9 in "unknown" shown as 10; people on any list: q1 = 12 + 2 = 14, shown as 15
    assert "People on any worklist 15 &lt;8 &lt;8 &lt;8 &lt;8 10" in flat
    assert "Undiagnosed hypertension 10 &lt;8 &lt;8 &lt;8 &lt;8 &lt;8" in flat
    # by ethnic group: only the 12 White and 9 Black appear as numbers, both as 10
    assert "People on any worklist 10 &lt;8 &lt;8 10 &lt;8 &lt;8" in flat
    section = page.split("Who the worklists reach")[1].split("Gap profile")[0]
    shown = re.findall(r'<td class="n">([^<]*)</td>', section) + re.findall(r'<text x="[\d.]+" y="\d+">([^<]*)</text>', section)
    assert shown and all(v == "&lt;8" or (int(v) >= 8 and int(v) % 5 == 0) for v in shown)


def test_charts_are_inline_svg_with_text_labels(page):
    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(charts) == 2
    assert all("<title" in c and 'role="img"' in c for c in charts)
    assert ">White<" in charts[1] and ">1<" in charts[0] and "&lt;8" in charts[0]


def test_gap_profile_rates_and_largest_gap(page):
    assert "IMD quintile 1 vs 5: 40.0 vs 10.0 per 1,000 (4.0×)" in page
    assert 'class="n hi">33.3' in page and 'class="n lo">20.0' in page
    assert "none named: fewer than two ethnic groups" in page
    assert "&lt;8" in page.split("Gap profile")[1]


def test_model_card_headline(page):
    for text in ("0.781", "0.792", "gap 0.011) — met", "0.970", "0.9–1.1 — met", "logistic regression",
                 "Not QAdmissions.</strong> Not QAdmissions: trained on synthetic data."):
        assert text in page


def test_best_from_the_record_shown_only_when_the_manifest_has_it(tmp_path, page):
    held = {**MANIFEST["risk_model"]["held_out"], "record_oracle_auroc": 0.7857}
    manifest = {**MANIFEST, "pcns": ["U44444"], "risk_model": {**MANIFEST["risk_model"], "held_out": held}}
    with_it = write_summaries(tmp_path, manifest)[0].read_text(encoding="utf-8")
    assert "Best AUROC the record allows" in with_it and "0.786" in with_it
    assert "Best AUROC the record allows" not in page


def test_model_not_trained(tmp_path):
    manifest = {**MANIFEST, "pcns": ["U33333"], "risk_model": {"status": "not trained: too few admissions"}}
    page = write_summaries(tmp_path, manifest)[0].read_text(encoding="utf-8")
    assert "not trained: too few admissions" in page and "Not QAdmissions" in page and "AUROC" not in page


def test_values_from_files_are_escaped(page):
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_self_contained(page):
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"\b(src|href)\s*=", page, re.I)
    assert "<link" not in page and "@import" not in page and "url(" not in page


class _Strict(HTMLParser):
    VOID = {"meta", "br", "rect", "link", "img", "hr", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def test_html_is_well_formed(page):
    assert page.startswith("<!DOCTYPE html>")
    parser = _Strict()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []


def test_deterministic(out, tmp_path):
    before = (out / "U11111" / "summary.html").read_bytes()
    write_summaries(out, MANIFEST)
    assert (out / "U11111" / "summary.html").read_bytes() == before


def test_model_targets_not_met_are_said(tmp_path):
    held = {**MANIFEST["risk_model"]["held_out"], "auroc": 0.724, "oracle_auroc": 0.783, "calibration_slope": 0.664}
    manifest = {**MANIFEST, "pcns": ["U44444"], "risk_model": {**MANIFEST["risk_model"], "held_out": held}}
    page = write_summaries(tmp_path, manifest)[0].read_text(encoding="utf-8")
    assert "(gap 0.059) — not met" in page and "0.9–1.1 — not met" in page
