"""The dataset card: `<store>/reports/dataset-card.md` and its plots, drawn from `audit` and `manifest`.

It is what a user of RainRAG reads first: how many pairs of each subset and split, where they came from
(the per-dataset funnel from samples to kept pairs), and the audit's findings (near-duplicates of public
test images in the train split, misaligned pairs). It is redrawn only when the audit changed: the card
names the audit part it was drawn from.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pyarrow as pa

from storage.atomic import atomic_write
from storage.images import image_data_uri
from tasks.curation.decisions import STAGES
from tasks.curation.subsets import SUBSETS

CARD = "dataset-card.md"
FUNNEL_PNG = "dataset-funnel.png"
SUBSETS_PNG = "dataset-subsets.png"
LISTED = 20   # findings listed in the card; the `audit` table has them all
REVIEW_APP = "http://127.0.0.1:8765"   # where `python -m review serve` listens by default


def pyplot():
    """matplotlib, imported only when a plot is drawn (a rerun with nothing new never pays for it)."""
    import matplotlib

    matplotlib.use("Agg")   # files only: no display on servers and workers
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: Path) -> None:
    """Write a figure as PNG atomically and free it."""
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    pyplot().close(figure)


def plot_funnel(funnel: list[dict], path: Path) -> None:
    """Grouped bars per source dataset: entered, passed quality, judged, kept."""
    steps = ("entered", "passed_quality", "judged", "kept")
    figure, axes = pyplot().subplots(figsize=(max(6, 0.9 * len(funnel) + 2), 4))
    width = 0.8 / len(steps)
    for k, step in enumerate(steps):
        axes.bar([i + k * width for i in range(len(funnel))], [row[step] for row in funnel], width,
                 label=step.replace("_", " "))
    axes.set_xticks([i + 1.5 * width for i in range(len(funnel))], [row["dataset"] for row in funnel],
                    rotation=35, ha="right")
    axes.set_ylabel("samples")
    axes.set_title("From each source dataset to RainRAG")
    axes.legend()
    save_figure(figure, path)


def plot_subsets(counts: Counter, path: Path) -> None:
    """Stacked train/test bars per subset."""
    figure, axes = pyplot().subplots(figsize=(5, 3.5))
    train = [counts[(s, "train")] for s in SUBSETS]
    test = [counts[(s, "test")] for s in SUBSETS]
    axes.bar(SUBSETS, train, label="train")
    axes.bar(SUBSETS, test, bottom=train, label="test")
    axes.set_ylabel("pairs")
    axes.set_title("RainRAG pairs per subset")
    axes.legend()
    save_figure(figure, path)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(v) for v in row) + " |" for row in rows])


def decisions_section(decisions: pa.Table) -> list[str]:
    """Candidates per dataset by the step that decided them (tasks.curation.decisions)."""
    counts = Counter((r["dataset"], r["stage"]) for r in decisions.select(["dataset", "stage"]).to_pylist())
    datasets = sorted({dataset for dataset, _ in counts})
    return ["## Decisions", "",
            "Every candidate, rejects included, counted by the step that decided it; the reason of each is in "
            "the catalog: `select stage, reason, judge_reasons from decisions where sample_id = '...'`.", "",
            _table(["dataset", *STAGES], [[d, *(counts[(d, s)] for s in STAGES)] for d in datasets]), ""]


def inspector(sample_id: str) -> str:
    """A sample id as a link to the review app's inspector."""
    return f"[{sample_id}]({REVIEW_APP}/samples/{sample_id})"


def card_markdown(audit: pa.Table, manifest: pa.Table, decisions: pa.Table, stamp: str) -> str:
    findings = audit.to_pylist()
    funnel = [r for r in findings if r["finding"] == "funnel"]
    duplicates = [r for r in findings if r["finding"] == "near_duplicate"]
    misaligned = [r for r in findings if r["finding"] == "misaligned"]
    pairs = manifest.select(["subset", "split", "subset_source"]).to_pylist()
    counts = Counter((p["subset"], p["split"]) for p in pairs)
    from_image = Counter(p["subset"] for p in pairs if p["subset_source"] == "image")
    sections = [
        "# RainRAG dataset card", "",
        f"{len(pairs)} pairs: {sum(counts[(s, 'train')] for s in SUBSETS)} train, "
        f"{sum(counts[(s, 'test')] for s in SUBSETS)} test. Drawn from audit part `{stamp}`.", "",
        "## Subsets", "",
        _table(["subset", "train", "test", "subset from the image"],
               [[s, counts[(s, "train")], counts[(s, "test")], from_image[s]] for s in SUBSETS]), "",
        f"![pairs per subset]({SUBSETS_PNG})", "",
        "## Source datasets", "",
        "Entered: samples ingested. Passed quality: images readable and scored. Judged: asked of the three "
        "judges. Kept: in the manifest (enough yes votes, subset decided, not from a public test split).", "",
        _table(["dataset", "entered", "passed quality", "judged", "kept", "note"],
               [[r["dataset"], r["entered"], r["passed_quality"], r["judged"], r["kept"], r["detail"]]
                for r in funnel]),
        "", f"![funnel]({FUNNEL_PNG})", "",
        *decisions_section(decisions),
        f"## Near-duplicates of public test images in the train split: {len(duplicates)}", "",
    ]
    if duplicates:
        sections += [_table(["train sample", "dataset", "public test sample", "dataset", "images", "bits apart"],
                            [[inspector(r["sample_id"]), r["dataset"], inspector(r["other_id"]), r["other_dataset"],
                              r["image"], int(r["score"])] for r in duplicates[:LISTED]]), ""]
    sections += [f"## Misaligned pairs: {len(misaligned)}", ""]
    if misaligned:
        sections += [_table(["sample", "dataset", "finding"],
                            [[inspector(r["sample_id"]), r["dataset"], r["detail"]] for r in misaligned[:LISTED]]),
                     ""]
    if len(duplicates) > LISTED or len(misaligned) > LISTED:
        sections += [f"Only the first {LISTED} findings of each kind are listed: query the `audit` table for all.", ""]
    sections += ["## Browse", "",
                 f"Each sample opens in the review app (`python -m review serve --store <store> --data-root <data>`): "
                 f"{REVIEW_APP}/samples/<sample_id> shows its images, references, every judge's answer and the "
                 f"decision. Lists: [judges disagree]({REVIEW_APP}/samples?list=disagree), "
                 f"[discarded]({REVIEW_APP}/samples?list=discarded), [kept]({REVIEW_APP}/samples?list=kept); "
                 f"the retrieval contact sheets: [reports]({REVIEW_APP}/reports).", ""]
    return "\n".join(sections)


def write_card(reports: Path, audit: pa.Table, manifest: pa.Table, decisions: pa.Table, stamp: str) -> Path:
    """Write the card and its plots unless the card already describes audit part `stamp`."""
    path = reports / CARD
    if path.exists() and f"`{stamp}`" in path.read_text(encoding="utf-8") and (reports / FUNNEL_PNG).exists():
        return path
    reports.mkdir(parents=True, exist_ok=True)
    pairs = manifest.select(["subset", "split"]).to_pylist()
    plot_subsets(Counter((p["subset"], p["split"]) for p in pairs), reports / SUBSETS_PNG)
    plot_funnel([r for r in audit.to_pylist() if r["finding"] == "funnel"], reports / FUNNEL_PNG)
    text = card_markdown(audit, manifest, decisions, stamp)
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def card_with_embedded_plots(path: Path) -> str:
    """The card's markdown with its plots inlined as data URIs, for a page that cannot read the store's
    files (the Prefect UI); the file on disk keeps its relative links."""
    def inline(match: re.Match) -> str:
        plot = path.parent / match["file"]
        return f"![{match['alt']}]({image_data_uri(plot)})" if plot.is_file() else match[0]

    return re.sub(r"!\[(?P<alt>[^\]]*)\]\((?P<file>[^):/]+\.png)\)", inline, path.read_text(encoding="utf-8"))
