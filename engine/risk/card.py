"""The model card: what the risk model is, what it was trained on and how well it does, as JSON
(for the summary page and the worklist) and Markdown (for people). It says it is not QAdmissions."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

CARD_KEYS = ("title", "not_qadmissions", "purpose", "model_family", "family_selection", "data", "features",
             "evaluation", "by_group", "top_factors_method", "limitations", "software")

NOT_QADMISSIONS = ("This model is NOT QAdmissions. It is our own model, trained on labelled history "
                   "(in the demo, synthetic data); QAdmissions is licensed separately and is not used here.")
FACTOR_METHOD = ("Per patient, for each feature: predicted risk minus the risk with that feature set to its "
                 "reference value (training median for numbers, most common value for categories, false for "
                 "flags). The three largest increases are listed with the patient's value; the same method for "
                 "both model families.")

GROUP_TITLES = {"sex": "Sex", "imd_quintile": "IMD quintile (1 = most deprived)", "ethnicity_group": "Ethnic group"}


def model_card(*, model, selection: dict, margin: float, overall: dict, by_group: dict, as_of, data_description: str,
               n_rows: int, n_train: int, n_test: int, n_validation: int, seed: int, event_rate: float) -> dict:
    import sklearn

    return {
        "title": "12-month emergency admission risk (casefind model)",
        "not_qadmissions": NOT_QADMISSIONS,
        "purpose": "Ranks the anticipatory-care worklist (CLINICAL_RULES §8) by predicted risk of an emergency "
                   "admission in the next 12 months. For prioritising proactive review, not for individual "
                   "clinical decisions on its own.",
        "model_family": model.family,
        "family_selection": {
            "method": "AUROC on a validation slice of the training rows (the held-out rows are not used to "
                      f"choose); a family listed later replaces the logistic model only when its AUROC is "
                      f"higher by more than {margin}; the chosen family is then refitted on all training rows.",
            "validation_auroc": selection,
        },
        "data": {
            "description": data_description,
            "as_of": None if as_of is None else (as_of.isoformat() if isinstance(as_of, dt.date) else str(as_of)),
            "rows": n_rows, "training_rows": n_train, "validation_rows": n_validation, "held_out_rows": n_test,
            "event_rate": event_rate, "split_seed": seed,
        },
        "features": {"numeric": list(model.numeric), "categorical": list(model.categorical)},
        "evaluation": {
            "on": "held-out rows",
            **overall,
            "calibration_note": "slope and intercept of a logistic regression of the outcome on logit(predicted "
                                "risk); a well-calibrated model has slope 1 and intercept 0",
        },
        "by_group": by_group,
        "top_factors_method": FACTOR_METHOD,
        "limitations": [
            "Trained on the labelled history it was given; on synthetic data the figures describe the "
            "generator, not a real population.",
            "Subgroup figures are null where fewer than 5 patients had (or lacked) an admission.",
            "Top factors explain the model's prediction, not the cause of an admission.",
        ],
        "software": {"scikit-learn": sklearn.__version__},
    }


# The generator's two truths: the best probability the record allows (its unmeasured term integrated
# out) and the true probability itself (which knows that term).
ORACLE_TITLES = (("record_oracle", "best from the record"), ("oracle", "oracle (true probability)"))
ORACLE_NOTE = ("Oracles (generated data only): the true probability knows the generator's unmeasured "
               "patient-level term, which no record holds; the best from the record integrates that term out "
               "given what the record shows, so no model of the record can beat it in expectation.")


def _performance_table(e: dict) -> list[str]:
    oracles = [(key, title) for key, title in ORACLE_TITLES if f"{key}_auroc" in e]

    def cells(measure: str) -> str:
        return "".join(f" {_num(e.get(f'{key}_{measure}'))} |" for key, _ in oracles)
    blank = " |" * len(oracles)
    return ["| measure | ours |" + "".join(f" {title} |" for _, title in oracles),
            "|---|---|" + "---|" * len(oracles),
            f"| AUROC | {_num(e['auroc'])} |" + cells("auroc"),
            f"| Brier score | {_num(e['brier'])} |" + cells("brier"),
            f"| calibration slope | {_num(e['calibration_slope'])} |" + blank,
            f"| calibration intercept | {_num(e['calibration_intercept'])} |" + blank,
            *(["", ORACLE_NOTE] if oracles else [])]


def _num(v, digits: int = 3) -> str:
    return "–" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def render_markdown(card: dict) -> str:
    e, d = card["evaluation"], card["data"]
    oracles = [(key, title) for key, title in ORACLE_TITLES if f"{key}_auroc" in e]
    lines = [f"# {card['title']}", "", f"**{card['not_qadmissions']}**", "", card["purpose"], "",
             "## Data", "",
             f"- {d['description'] or 'labelled history'}"
             + (f", features as of {d['as_of']}" if d["as_of"] and d["as_of"] not in (d["description"] or "") else ""),
             f"- {d['rows']} rows: {d['training_rows']} training (of which {d['validation_rows']} validation), "
             f"{d['held_out_rows']} held out; event rate {_num(d['event_rate'])}",
             "", "## Model", "",
             f"- family: **{card['model_family']}** — {card['family_selection']['method']}",
             "- validation AUROC: " + ", ".join(f"{k} {_num(v)}" for k, v in card["family_selection"]["validation_auroc"].items()),
             f"- numeric / flag inputs: {', '.join(card['features']['numeric'])}",
             f"- categorical inputs: {', '.join(card['features']['categorical']) or 'none'}",
             "", "## Held-out performance", "",
             *_performance_table(e),
             "", f"_{e['calibration_note']}._", ""]
    for group, rows in card["by_group"].items():
        lines += [f"### By {GROUP_TITLES.get(group, group)}", "",
                  "| group | n | admitted | AUROC | Brier | slope | intercept |"
                  + "".join(f" {title} AUROC |" for _, title in oracles),
                  "|---|---|---|---|---|---|---|" + "---|" * len(oracles)]
        for value, m in rows.items():
            lines.append(f"| {value} | {m['n']} | {m['events']} | {_num(m['auroc'])} | {_num(m['brier'])} | "
                         f"{_num(m['calibration_slope'])} | {_num(m['calibration_intercept'])} |"
                         + "".join(f" {_num(m.get(key + '_auroc'))} |" for key, _ in oracles))
        lines.append("")
    lines += ["## Top contributing factors", "", card["top_factors_method"], "", "## Limitations", "",
              *[f"- {x}" for x in card["limitations"]], "",
              f"scikit-learn {card['software']['scikit-learn']}", ""]
    return "\n".join(lines)


def write_card(card: dict, out_dir: str | Path) -> None:
    out = Path(out_dir)
    (out / "model_card.json").write_text(json.dumps(card, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    (out / "model_card.md").write_text(render_markdown(card), encoding="utf-8")


def read_card(artifact_dir: str | Path) -> dict:
    return json.loads((Path(artifact_dir) / "model_card.json").read_text(encoding="utf-8"))
