"""<out>/<pcn>/summary.html: one self-contained page a practice manager opens offline.

Built only from what the run already wrote for the PCN (the worklist CSVs, gap_profile.csv) and the
manifest (as_of, cohort titles, the risk model headline). No scripts, fonts, images or links to
anything outside the file: inline CSS and inline SVG bar charts, each followed by a data table.

Counts only — no patient identifiers leave the CSVs. Worklist and band counts are the operational
list sizes (the PCN holds the lists themselves); composition counts (IMD quintile, ethnic group) are
disclosure-controlled like the gap profile: below ``SUPPRESS_BELOW`` (8, zero included) they are
shown as "<8" and drawn as an empty bar, and every other count is rounded to the nearest
``ROUND_TO`` (5), so that two of them cannot be subtracted to reveal a suppressed one. Every value taken from a file is HTML-escaped. The output is
deterministic: same inputs, same bytes (no clock, fixed orderings).
"""
from __future__ import annotations

import csv
import html
import math
from pathlib import Path

from engine.worklists import gap_profile
from engine.worklists.build import pcn_folder
from engine.worklists.gap_profile import ETHNIC, ETHNIC_GROUPS, IMD, QUINTILES

SUPPRESS_BELOW, ROUND_TO = 8, 5
INEQUALITIES = "inequalities"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1d1d1d;margin:0;background:#f4f6f8}
main{max-width:1100px;margin:0 auto;padding:24px 32px 48px;background:#fff}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:32px 0 8px;border-bottom:2px solid #005eb8;padding-bottom:4px}
h3{font-size:1.05em;margin:20px 0 6px}p.sub{color:#4c6272;margin:0 0 16px}
table{border-collapse:collapse;margin:6px 0 14px;font-size:.9em}
caption{text-align:left;font-weight:600;padding:4px 0;color:#333}
th,td{border:1px solid #d8dde0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#e8edee}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.hi{background:#fde8e6;font-weight:600}td.lo{background:#e6f2fb;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:24px}.chart{flex:1 1 460px}
svg text{font-size:12px;fill:#1d1d1d}svg rect.bar{fill:#005eb8}
.note{color:#4c6272;font-size:.85em}.warn{background:#fff9c4;border-left:4px solid #ffb81c;padding:8px 12px}
.card{border-left:4px solid #005eb8;background:#f0f4f5;padding:8px 14px}
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def disclose(n: int) -> str:
    return gap_profile.disclose(n, SUPPRESS_BELOW, ROUND_TO)[0]


def quintile(decile: str) -> str:
    try:
        d = int(float(decile))
    except (TypeError, ValueError):
        return "unknown"
    return str(math.ceil(d / 2)) if 1 <= d <= 10 else "unknown"


def ethnic(group: str) -> str:
    group = (group or "").strip()
    return group if group and group.lower() not in ("unknown", "not stated") else "Unknown"


def _read_csv(path: Path) -> list[dict] | None:
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _ordered(groups: list[str], found) -> list[str]:
    return groups + sorted(set(found) - set(groups))


# ---------------------------------------------------------------------------------------- pieces

def _table(caption: str, header: list[str], rows: list[list[tuple[str, str]]]) -> str:
    """rows of (escaped html, css class) cells; first cell of each row is a row header."""
    out = [f"<table><caption>{caption}</caption><thead><tr>"
           + "".join(f'<th scope="col">{h}</th>' for h in header) + "</tr></thead><tbody>"]
    for row in rows:
        first, *rest = row
        out.append(f'<tr><th scope="row">{first[0]}</th>'
                   + "".join(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>" for text, cls in rest)
                   + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _bar_chart(chart_id: str, title: str, items: list[tuple[str, int]]) -> str:
    """Horizontal bar chart (inline SVG) with a text label on every bar; suppressed bars are empty."""
    label_w, bar_w, row_h, top = 130, 280, 26, 28
    items = [(label, gap_profile.disclose(n, SUPPRESS_BELOW, ROUND_TO)[1] or 0) for label, n in items]
    shown = [n for _, n in items if n >= SUPPRESS_BELOW]
    peak = max(shown) if shown else 1
    height = top + row_h * len(items) + 6
    parts = [f'<svg role="img" aria-labelledby="{chart_id}" '
             f'width="{label_w + bar_w + 70}" height="{height}" viewBox="0 0 {label_w + bar_w + 70} {height}">',
             f'<title id="{chart_id}">{esc(title)}</title>',
             f'<text x="0" y="16" style="font-weight:600">{esc(title)}</text>']
    for i, (label, n) in enumerate(items):
        y = top + i * row_h
        w = round(bar_w * n / peak, 1) if n >= SUPPRESS_BELOW else 0
        parts.append(f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end">{esc(label)}</text>')
        parts.append(f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{w}" height="{row_h - 8}"/>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 16}">{esc(disclose(n))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _worklists(folder: Path, manifest: dict) -> list[tuple[str, str, list[dict] | None]]:
    names = list(manifest.get("cohorts") or {}) + [INEQUALITIES]
    out = []
    for name in names:
        title = (manifest.get("cohorts") or {}).get(name, {}).get("title") if name != INEQUALITIES else \
            "Inequalities (Core20PLUS with an open case-finding need)"
        out.append((name, title or name, _read_csv(folder / f"{name}.csv")))
    return out


def _counts_section(lists) -> str:
    rows = []
    for name, title, rows_ in lists:
        if rows_ is None:
            rows.append([(esc(title), ""), ("not written", ""), ("", "")])
            continue
        bands: dict[str, int] = {}
        for r in sorted(rows_, key=lambda r: _rank(r.get("rank"))):   # first appearance in rank order
            b = r.get("band") or "(none)"
            bands[b] = bands.get(b, 0) + 1
        detail = "; ".join(f"{esc(b)}: {n}" for b, n in bands.items()) or "—"
        rows.append([(f"{esc(title)}<br><span class=\"note\">{esc(name)}.csv</span>", ""),
                     (str(len(rows_)), "n"), (detail, "")])
    return ("<h2 id=\"worklists\">Worklists</h2>"
            + _table("Patients listed per worklist and band (bands in rank order)",
                     ["Worklist", "Listed", "By band"], rows))


def _rank(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.inf


def _composition_section(lists) -> str:
    written = [(n, t, r) for n, t, r in lists if r is not None]
    dims = ((IMD, "imd_decile", quintile, QUINTILES, "IMD quintile (1 = most deprived)"),
            (ETHNIC, "ethnicity_group", ethnic, ETHNIC_GROUPS, "ethnic group"))
    out = ["<h2 id=\"composition\">Who the worklists reach</h2>",
           '<p class="note">People on any worklist (each person counted once) and each worklist\'s make-up. '
           f"Counts below {SUPPRESS_BELOW} are shown as “&lt;{SUPPRESS_BELOW}” and drawn as an empty bar; other "
           f"counts are rounded to the nearest {ROUND_TO}.</p>"]
    charts, tables = [], []
    for key, (dim, column, to_group, groups, label) in enumerate(dims):
        per_list: dict[str, dict[str, int]] = {}
        people: dict[str, str] = {}
        for name, _, rows in written:
            counts: dict[str, int] = {}
            for r in rows:
                g = to_group(r.get(column))
                counts[g] = counts.get(g, 0) + 1
                people.setdefault(r.get("patient_id") or f"{name}#{r.get('rank')}", g)
            per_list[name] = counts
        overall: dict[str, int] = {}
        for g in people.values():
            overall[g] = overall.get(g, 0) + 1
        order = _ordered(groups, [g for c in per_list.values() for g in c])
        charts.append(f'<div class="chart">{_bar_chart(f"chart-{key}", f"People on any worklist by {label}", [(g, overall.get(g, 0)) for g in order])}</div>')
        rows = [[("People on any worklist", "")] + [(esc(disclose(overall.get(g, 0))), "n") for g in order]]
        rows += [[(esc(t), "")] + [(esc(disclose(per_list[n].get(g, 0))), "n") for g in order] for n, t, _ in written]
        tables.append(_table(f"Composition by {esc(label)} (data table)", ["Worklist", *map(esc, order)], rows))
    out.append(f'<div class="charts">{"".join(charts)}</div>')
    out.extend(tables)
    return "".join(out)


def _gap_section(folder: Path, titles: dict[str, str]) -> str:
    rows = _read_csv(folder / "gap_profile.csv")
    out = ["<h2 id=\"gaps\">Gap profile (CLINICAL_RULES §9)</h2>"]
    if rows is None:
        return out[0] + "<p>gap_profile.csv was not written for this PCN.</p>"
    out.append('<p class="note">Rate per 1,000 eligible adults found by each case-finding cohort. Counts below '
               f"{SUPPRESS_BELOW} are suppressed (“&lt;{SUPPRESS_BELOW}”) and other counts rounded, as in "
               "gap_profile.csv; highest rate shaded red, lowest blue.</p>")
    cohorts = list(dict.fromkeys(r.get("cohort", "") for r in rows))
    gaps = [[(esc(titles.get(c) or c), ""), (esc(d), ""), (esc(r.get("largest_gap", "")), "")]
            for c in cohorts for d in (IMD, ETHNIC)
            for r in [next((x for x in rows if x.get("cohort") == c and x.get("dimension") == d), None)] if r]
    gaps += [[(esc(titles.get(c) or c), ""), (esc(d), ""), (esc(r.get("largest_gap", "")), "")]
             for c in cohorts for d in sorted({x.get("dimension", "") for x in rows} - {IMD, ETHNIC})
             for r in [next((x for x in rows if x.get("cohort") == c and x.get("dimension") == d), None)] if r]
    out.append(_table("Largest gap per cohort and dimension", ["Cohort", "Dimension", "Largest gap"], gaps))
    for dim in [IMD, ETHNIC] + sorted({x.get("dimension", "") for x in rows} - {IMD, ETHNIC}):
        block = [r for r in rows if r.get("dimension") == dim]
        if not block:
            continue
        groups = list(dict.fromkeys(r.get("group", "") for r in block))
        table_rows = []
        for c in cohorts:
            cells = {r.get("group", ""): r for r in block if r.get("cohort") == c}
            line = [(esc(titles.get(c) or c), "")]
            for g in groups:
                r = cells.get(g)
                if r is None:
                    line.append(("", ""))
                    continue
                cls = {"highest": "n hi", "lowest": "n lo"}.get(r.get("gap_role", ""), "n")
                line.append((_rate_cell(r), cls))
            table_rows.append(line)
        out.append(_table(f"Rate per 1,000 by {esc(dim)} (listed / eligible)",
                          ["Cohort", *map(esc, groups)], table_rows))
    return "".join(out)


def _rate_cell(r: dict) -> str:
    rate, listed, eligible = r.get("rate_per_1000", ""), r.get("listed", ""), r.get("eligible", "")
    if rate not in ("", None):
        try:
            shown = esc(f"{float(rate):.1f}")   # csv_file writes 36.0 as "36"
        except ValueError:
            shown = esc(rate)
    else:   # no rate: a suppressed count explains why
        shown = esc(listed if str(listed).startswith("<") else eligible if str(eligible).startswith("<") else "—")
    return f'{shown}<br><span class="note">{esc(listed)} / {esc(eligible)}</span>'


def _model_section(risk: dict | None) -> str:
    risk = risk or {}
    out = ["<h2 id=\"model\">Admission-risk model (anticipatory care)</h2>", '<div class="card">']
    status = str(risk.get("status", "not recorded"))
    held = risk.get("held_out") or {}
    if not held:
        out.append(f'<p class="warn">Model status: {esc(status)}. No held-out evaluation to show; '
                   "the anticipatory-care list is ranked without a risk score.</p>")
    else:
        def fmt(v, digits=3):
            return esc(f"{v:.{digits}f}") if isinstance(v, (int, float)) and not isinstance(v, bool) else esc(v if v is not None else "—")
        auc, oracle, slope = held.get("auroc"), held.get("oracle_auroc"), held.get("calibration_slope")
        num = (int, float)
        gap = oracle - auc if isinstance(auc, num) and isinstance(oracle, num) else None

        def target(ok: bool | None, text: str) -> tuple[str, str]:
            return (esc(text) + ("" if ok is None else " — met" if ok else " — not met"), "")
        rows = [[("AUROC (held out)", ""), (fmt(auc), "n"), ("", "")],
                *([[("Best AUROC the record allows (generated data)", ""), (fmt(held["record_oracle_auroc"]), "n"),
                    ("", "")]] if held.get("record_oracle_auroc") is not None else []),
                [("Oracle AUROC (true probabilities)", ""), (fmt(oracle), "n"),
                 target(None if gap is None else gap <= 0.02,
                        "model within 0.02 of oracle" + ("" if gap is None else f" (gap {gap:.3f})"))],
                [("Calibration slope", ""), (fmt(slope), "n"),
                 target(0.9 <= slope <= 1.1 if isinstance(slope, num) else None, "0.9–1.1")],
                [("Calibration intercept", ""), (fmt(held.get("calibration_intercept")), "n"), ("ideal 0", "")],
                [("Brier score", ""), (fmt(held.get("brier"), 4), "n"), ("lower is better", "")],
                [("Held-out patients / admissions", ""),
                 (f"{esc(held.get('n', '—'))} / {esc(held.get('events', '—'))}", "n"), ("", "")],
                [("Model family", ""), (esc(risk.get("family", "—")), ""), ("", "")],
                [("Status", ""), (esc(status), ""), ("", "")]]
        out.append(_table("Model card headline", ["Measure", "Value", "Target"], rows))
    note = risk.get("not_qadmissions")
    text = note if isinstance(note, str) and note.strip() else \
        "It is our own model, trained on this data to rank the anticipatory-care list; it is not a validated clinical risk score."
    out.append(f"<p><strong>Not QAdmissions.</strong> {esc(text)}</p>")
    out.append("</div>")
    return "".join(out)


# ---------------------------------------------------------------------------------------- entry point

def render(pcn: str, folder: Path, manifest: dict) -> str:
    lists = _worklists(folder, manifest)
    as_of = manifest.get("as_of", "")
    body = [f"<h1>Case-finding summary: PCN {esc(pcn)}</h1>",
            f'<p class="sub">Run as of {esc(as_of)}. Counts only — the worklist CSVs in this folder hold the '
            "patient details.</p>",
            _counts_section(lists), _composition_section(lists), _gap_section(folder, {n: t for n, t, _ in lists}),
            _model_section(manifest.get("risk_model"))]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Case-finding summary: PCN {esc(pcn)}, as of {esc(as_of)}</title>"
            f"<style>{CSS}</style></head><body><main>\n" + "\n".join(body) + "\n</main></body></html>\n")


def write_summaries(out_dir: Path, manifest: dict) -> list[Path]:
    """Write <out_dir>/<pcn>/summary.html for every PCN in manifest["pcns"]; returns the paths."""
    out_dir = Path(out_dir)
    paths = []
    for pcn in manifest.get("pcns") or []:
        folder = out_dir / pcn_folder(pcn)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "summary.html"
        path.write_bytes(render(pcn, folder, manifest).encode("utf-8"))
        paths.append(path)
    return paths
