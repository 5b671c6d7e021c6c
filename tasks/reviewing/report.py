"""The agreement study's report: `<store>/reports/agreement.md` and `agreement.png`.

The first table is the paper's Table 2 row (pairs, users, human–VLM agreement); the rest say how far
to trust it: the human majority against the ensemble and against each judge, agreement among the
reviewers, each statistic with its 95 % bootstrap interval over the pairs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from storage.atomic import atomic_write
from storage.store import Store
from tasks.auditing.card import pyplot, save_figure
from tasks.reviewing.agreement import Estimate
from tasks.reviewing.study import StudyResult

NAMES = {"agreement": "agreement", "cohen_kappa": "Cohen's κ", "gwet_ac1": "Gwet's AC1", "fleiss_kappa": "Fleiss' κ"}


def _row(label: str, estimates: dict[str, Estimate], columns: list[str]) -> str:
    cells = [estimates[c].text(percent=c == "agreement") if c in estimates else "" for c in columns]
    return f"| {label} | " + " | ".join(cells) + " |"


def markdown(result: StudyResult, figure: str | None = None) -> str:
    columns = ["agreement", "cohen_kappa", "gwet_ac1"]
    lines = [
        f"# Human–judge agreement: study `{result.name}`", "",
        "Reviewers answered keep or discard for each pair, seeing the pair and its references but not the "
        "judges' votes. Values are followed by their 95 % bootstrap interval over the pairs.", "",
        "## Table 2", "",
        "| pairs | users | human–VLM agreement |", "|---:|---:|---:|",
        f"| {result.pairs} | {len(result.reviewers)} | {result.table2_agreement.text(percent=True)} |", "",
        f"Human–VLM agreement: the share of all {result.answers} answers (reviewer × pair) that match the "
        "ensemble's decision (kept by the judges' majority or discarded by it).", "",
        "## The human majority against the judges", "",
        f"{result.majority_pairs} of the {result.pairs} pairs have a majority among the reviewers (ties are left out).",
        "", "| against | " + " | ".join(NAMES[c] for c in columns) + " |", "|---|" + "---:|" * len(columns),
        _row("ensemble (majority vote)", result.majority_vs_ensemble, columns),
        *(_row(judge, estimates, columns) for judge, estimates in result.majority_vs_judge.items()), "",
        "## Among the reviewers", "",
        "| | Fleiss' κ | Gwet's AC1 |", "|---|---:|---:|",
        f"| {', '.join(result.reviewers)} | {result.among_reviewers['fleiss_kappa'].text()} | "
        f"{result.among_reviewers['gwet_ac1'].text()} |", "",
        "κ is low when one answer dominates even if people agree; AC1 is not: read them together.", "",
        "## Pairs", "",
        "| pair | ensemble | " + " | ".join(result.majority_vs_judge) + " | human majority | answers |",
        "|---|---|" + "---|" * len(result.majority_vs_judge) + "---|---|",
    ]
    for row in result.rows:
        answers = ", ".join(f"{who}={a}" for who, a in sorted(row["answers"].items())) or "none"
        lines.append(f"| {row['sample_id']} | {row['ensemble']} | " + " | ".join(str(v) for v in row["judges"].values())
                     + f" | {row['majority'] or 'tie / none'} | {answers} |")
    if figure:
        lines += ["", f"![agreement]({figure})"]
    return "\n".join(lines) + "\n"


def plot(result: StudyResult, path: Path) -> Path:
    """Bars of agreement, κ and AC1 of the human majority against the ensemble and each judge, with intervals."""
    against = {"ensemble": result.majority_vs_ensemble, **result.majority_vs_judge}
    stats = ["agreement", "cohen_kappa", "gwet_ac1"]
    figure, axis = pyplot().subplots(figsize=(7, 3.2))
    width = 0.8 / len(stats)
    for s, stat in enumerate(stats):
        values = np.array([against[a][stat].value for a in against])
        low = np.array([against[a][stat].low for a in against])
        high = np.array([against[a][stat].high for a in against])
        x = np.arange(len(against)) + (s - (len(stats) - 1) / 2) * width
        errors = np.nan_to_num(np.vstack([values - low, high - values]), nan=0.0)
        axis.bar(x, np.nan_to_num(values), width, yerr=errors, capsize=3, label=NAMES[stat])
    axis.set_xticks(np.arange(len(against)), list(against))
    axis.set_ylim(-0.2, 1.05)
    axis.axhline(0, color="black", linewidth=0.5)
    axis.set_title(f"human majority vs judges: {result.pairs} pairs, {len(result.reviewers)} reviewers")
    axis.legend(loc="lower right", fontsize=8)
    save_figure(figure, path)
    return path


def write_report(store: Store, result: StudyResult) -> tuple[Path, Path]:
    """(agreement.md, agreement.png) under the store's reports/."""
    png = plot(result, store.reports / "agreement.png")
    md = store.reports / "agreement.md"
    text = markdown(result, png.name)
    atomic_write(md, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return md, png
