"""How good RainRAG's decisions are, against the sample corpus's planted defects (corpus.defects).

    python -m benchmarks.judge_accuracy [--seeds 0 1 2] [--scale 1] [--profile offline]

For each seed: the corpus with its labelled defects, distilled through every stage of the DAG in this
process (benchmarks.distill_flow.bare_run, the flow's default settings), then its labels (`defects.csv`,
matched to samples by rainy path) against what the run decided, for the training pairs (public test
pairs are held out and never judged):

  - per judge, on the pairs it was asked about: the confusion of its yes/no with genuine/defect, and
    the precision and recall of "yes" for genuine pairs;
  - the ensemble, i.e. RainRAG itself: genuine pairs kept, defects rejected (target for seed 0: both
    >= 90 %), the precision and recall of "kept", each defect kind's rejection and the step that
    rejected it (tasks.curation.decisions);
  - copies (exact, resized, of a public test image): the share the dedup step found. A pair and its
    planted copy are one scene: the copy counts as rejected unless both stay, its source as kept when
    either does (which of the two stays is the dedup step's keep rule).

Writes `benchmarks/out/judge_accuracy.json` and prints a Markdown report.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from sklearn.metrics import confusion_matrix, precision_score, recall_score

from benchmarks.distill_flow import bare_run
from corpus import generate_corpus
from corpus.defects import COPIES, GENUINE, KINDS, read_labels
from models.pipeline.fetch import plan
from models.pipeline.fetch import run as run_steps
from models.pipeline.profiles import Profile, load_profile
from models.pipeline.roles import JUDGE_ROLES
from storage.stage import GLOBAL_SHARD
from storage.store import Store

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.90


def fitted_profile(name: str, models: Path) -> Profile:
    """The profile with its models prepared as `make demo` does (`offline`: its quality model fitted on
    the genuine clean images of the sample corpus, models.pipeline.fetch)."""
    profile = load_profile(name, models_dir=models)
    run_steps(profile, plan(profile))
    return profile


def rows_of(store: Store, table: str) -> list[dict]:
    shards = [GLOBAL_SHARD] if table in ("decisions", "duplicates") else store.current_shards("samples")
    return [row for shard in shards for row in store.read_shard(table, shard).to_pylist()]


def rates(truth: list[bool], said_yes: list[bool]) -> dict:
    """Confusion of genuine (True) / defect with yes / no, and precision and recall of yes for genuine."""
    matrix = confusion_matrix(truth, said_yes, labels=[True, False])   # rows: genuine, defect; cols: yes, no
    return {"confusion": {"genuine": {"yes": int(matrix[0, 0]), "no": int(matrix[0, 1])},
                          "defect": {"yes": int(matrix[1, 0]), "no": int(matrix[1, 1])}},
            "precision": float(precision_score(truth, said_yes, zero_division=0)),
            "recall": float(recall_score(truth, said_yes, zero_division=0)),
            "genuine_kept": float(matrix[0, 0] / max(1, matrix[0].sum())),
            "defects_rejected": float(matrix[1, 1] / max(1, matrix[1].sum()))}


def score(data: Path, store: Store) -> dict:
    """The run's decisions against the corpus's labels (module docstring)."""
    samples = {r["rainy_path"]: r for r in rows_of(store, "samples")}
    labels = [label for label in read_labels(data) if label["split"] == "train"]
    missing = [label["rainy_path"] for label in labels if label["rainy_path"] not in samples]
    if missing:
        raise RuntimeError(f"{len(missing)} labelled pairs are no samples of the store, e.g. {missing[0]}")
    sid = {label["rainy_path"]: samples[label["rainy_path"]]["sample_id"] for label in labels}
    decisions = {d["sample_id"]: d for d in rows_of(store, "decisions")}
    duplicates = {d["sample_id"]: d for d in rows_of(store, "duplicates")}
    votes: dict[str, dict[str, str]] = defaultdict(dict)
    for vote in rows_of(store, "votes"):
        votes[vote["judge"]][vote["sample_id"]] = vote["answer"]

    genuine = [label["defect"] == GENUINE for label in labels]
    kept = [decisions[sid[label["rainy_path"]]]["stage"] == "kept" for label in labels]
    # A pair and its planted copy are one scene: whichever of the two stays, the scene is in RainRAG once.
    # The source counts as kept when either is; the copy counts as rejected unless both are.
    kept_by_path = dict(zip((label["rainy_path"] for label in labels), kept))
    for i, label in enumerate(labels):
        if label["defect"] in ("copy_exact", "copy_resized") and label["source"] in kept_by_path:
            j = next(k for k, other in enumerate(labels) if other["rainy_path"] == label["source"])
            kept[i], kept[j] = kept_by_path[label["rainy_path"]] and kept_by_path[label["source"]], \
                kept_by_path[label["rainy_path"]] or kept_by_path[label["source"]]
    judges = {}
    for role in JUDGE_ROLES:
        asked = [(g, votes[role][sid[label["rainy_path"]]] == "yes")
                 for label, g in zip(labels, genuine) if sid[label["rainy_path"]] in votes[role]]
        judges[role] = {"asked": len(asked), **rates([g for g, _ in asked], [y for _, y in asked])}
    kinds = {}
    for kind in KINDS:
        of_kind = [label for label in labels if label["defect"] == kind]
        if of_kind:
            stages = Counter(decisions[sid[label["rainy_path"]]]["stage"] for label in of_kind)
            rejected = sum(not k for label, k in zip(labels, kept) if label["defect"] == kind)
            kinds[kind] = {"planted": len(of_kind), "rejected": rejected, "by_step": dict(stages)}
    copies = [label for label in labels if label["defect"] in COPIES]
    found = sum(copy_found(label, sid, samples, duplicates) for label in copies)
    lost = [decisions[sid[label["rainy_path"]]] for label, g, k in zip(labels, genuine, kept) if g and not k]
    why_genuine_lost = {"by_step": dict(Counter(d["stage"] for d in lost)),
                        "pairs": [f"{d['dataset']} {d['sample_id']}: {d['reason']}" for d in lost]}
    return {"pairs": len(labels), "genuine": sum(genuine), "defects": len(labels) - sum(genuine),
            "ensemble": rates(genuine, kept), "judges": judges, "kinds": kinds,
            "genuine_lost_at": dict(why_genuine_lost),
            "copies": {"planted": len(copies), "found": found, "rate": found / max(1, len(copies))}}


def copy_found(label: dict, sid: dict, samples: dict, duplicates: dict) -> bool:
    """A planted copy is found when it and its source are in one duplicate group (one marked a copy of the
    other); a copy of a public test image, when the copy is marked a duplicate of that image."""
    copy, source = sid[label["rainy_path"]], samples[label["source"]]["sample_id"]
    if label["defect"] == "copy_of_public_test":
        return duplicates.get(copy, {}).get("duplicate_of") == source
    return duplicates.get(copy, {}).get("duplicate_of") == source or \
        duplicates.get(source, {}).get("duplicate_of") == copy


def report(results: dict[int, dict]) -> str:
    lines = ["| seed | genuine kept | defects rejected | precision (kept) | recall (kept) | copies found |",
             "|---|---|---|---|---|---|"]
    for seed, r in results.items():
        e = r["ensemble"]
        lines.append(f"| {seed} | {e['confusion']['genuine']['yes']}/{r['genuine']} ({e['genuine_kept']:.1%}) | "
                     f"{e['confusion']['defect']['no']}/{r['defects']} ({e['defects_rejected']:.1%}) | "
                     f"{e['precision']:.3f} | {e['recall']:.3f} | {r['copies']['found']}/{r['copies']['planted']} |")
    for seed, r in results.items():
        lines += ["", f"Seed {seed}, per judge (pairs asked; yes for genuine):", "",
                  "| judge | asked | genuine yes/no | defect yes/no | precision | recall |",
                  "|---|---|---|---|---|---|"]
        for role, j in r["judges"].items():
            c = j["confusion"]
            lines.append(f"| {role} | {j['asked']} | {c['genuine']['yes']}/{c['genuine']['no']} | "
                         f"{c['defect']['yes']}/{c['defect']['no']} | {j['precision']:.3f} | {j['recall']:.3f} |")
        lines += ["", "| defect | planted | rejected | by step |", "|---|---|---|---|"]
        lines += [f"| {kind} | {k['planted']} | {k['rejected']} | {k['by_step']} |" for kind, k in r["kinds"].items()]
        lost = r["genuine_lost_at"]
        lines += ["", f"Genuine pairs not kept, by step: {lost['by_step']}", *(f"- {pair}" for pair in lost["pairs"])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--profile", default="offline")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="rainrag-judge-accuracy-") as tmp:
        profile = fitted_profile(args.profile, Path(tmp) / "models")
        for seed in args.seeds:
            work = Path(tmp) / f"seed-{seed}"
            generate_corpus(work / "data", seed=seed, scale=args.scale)
            store = Store(work / "store")
            bare_run(work / "data", store, profile, shard_size=2048)
            results[seed] = score(work / "data", store)
    text = report(results)
    print(text)
    seed0 = results.get(0)
    if seed0 is not None:
        e = seed0["ensemble"]
        met = e["genuine_kept"] >= TARGET and e["defects_rejected"] >= TARGET
        print(f"\nseed 0: genuine kept {e['genuine_kept']:.1%}, defects rejected {e['defects_rejected']:.1%}: "
              f"target (both >= {TARGET:.0%}) {'met' if met else 'NOT met'}")
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "judge_accuracy.json").write_text(json.dumps({"scale": args.scale, "profile": args.profile,
                                                         "results": results}, indent=1))


if __name__ == "__main__":
    main()
