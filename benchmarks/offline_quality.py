"""Does the `offline` quality model rank each clean photo of the sample corpus above its degraded versions?

    python -m benchmarks.offline_quality [--eval-seed 0] [--scale 1] [--blur-sigma 2.0]

Builds the model exactly as `make models PROFILE=offline` does (the registered `niqe` preparer
generates the sample corpus and fits on its clean ground truth, here into a temporary models dir),
loads it through `load_role`, then, on the corpus of `--eval-seed` (default 0: the very corpus the
model is fitted on; another seed gives held-out crops and rain), compares for every clean photo
  - score(clean) vs score(each rainy version), paired by the ingest layouts (streaks, drops, night);
  - score(clean) vs score(its blurred version). The corpus keeps blurred frames only for half of the
    RaindropClarity sequences (`Blur/`, made by `corpus.rain.blur` with sigma 2.0), so every clean
    photo is blurred here with that same function and sigma, then quantised to 8 bits like the corpus.
A pair counts as ranked when the clean score is strictly higher. Per-dataset counts, the totals and
their percentages go to stdout and, as JSON, to `benchmarks/out/offline_quality.json`.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from corpus import generate_corpus
from corpus.rain import blur
from models.pipeline.offline.niqe import FIT_SCALE, FIT_SEED
from models.pipeline.offline.niqe_fitting import corpus_pairs
from models.pipeline.profiles import load_profile
from models.pipeline.registry import load_role
from models.pipeline.registry import preparer
from models.pipeline.roles import QualityScorer

OUT_FILE = Path(__file__).with_name("out") / "offline_quality.json"
CORPUS_BLUR_SIGMA = 2.0   # corpus/layouts.py: drop-focused RaindropClarity frames blur the scene by 2.0


def blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    """The corpus's own blur of an RGB uint8 image, back to uint8 as the corpus writes its files."""
    out = blur(image.astype(np.float32) / 255.0, sigma)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def rank_pairs(scorer: QualityScorer, pairs: Sequence[tuple[str, np.ndarray, list[np.ndarray]]],
               blur_sigma: float = CORPUS_BLUR_SIGMA) -> dict:
    """Ranked / total rainy and blurred pairs, per dataset and overall, and the score medians."""
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"rainy": [0, 0], "blurred": [0, 0]})
    scores: dict[str, list[float]] = {"clean": [], "rainy": [], "blurred": []}
    for dataset, clean, rainy in pairs:
        clean_score, blur_score, *rainy_scores = scorer.score([clean, blurred(clean, blur_sigma), *rainy])
        for kind, degraded in (("blurred", [blur_score]), ("rainy", rainy_scores)):
            counts[dataset][kind][0] += int(sum(clean_score > s for s in degraded))
            counts[dataset][kind][1] += len(degraded)
            scores[kind] += [float(s) for s in degraded]
        scores["clean"].append(float(clean_score))
    totals = {kind: [sum(c[kind][i] for c in counts.values()) for i in (0, 1)] for kind in ("rainy", "blurred")}
    totals["overall"] = [totals["rainy"][i] + totals["blurred"][i] for i in (0, 1)]
    return {"per_dataset": dict(counts), "totals": totals,
            "percent": {kind: 100.0 * won / max(total, 1) for kind, (won, total) in totals.items()},
            "median_score": {kind: float(np.median(values)) for kind, values in scores.items() if values}}


def fitted_scorer(models_dir: Path) -> QualityScorer:
    """The `offline` quality role, its model prepared as `make models PROFILE=offline` prepares it."""
    profile = load_profile("offline", models_dir=models_dir)
    spec = profile.roles["quality"]
    preparer(spec.kind)(spec, profile)
    return load_role(profile, "quality")


def format_report(result: dict) -> str:
    rows = [f"{'dataset':<16} {'rainy ranked':>13} {'blurred ranked':>15}"]
    for dataset, c in sorted(result["per_dataset"].items()):
        rainy, blurred_ = c["rainy"], c["blurred"]
        rows.append(f"{dataset:<16} {rainy[0]:>6}/{rainy[1]:<6} {blurred_[0]:>7}/{blurred_[1]:<7}")
    for kind in ("rainy", "blurred", "overall"):
        won, total = result["totals"][kind]
        rows.append(f"{kind + ' pairs:':<16} {won}/{total} = {result['percent'][kind]:.1f} %")
    medians = ", ".join(f"{k} {v:.2f}" for k, v in result["median_score"].items())
    rows.append(f"median scores (higher is better): {medians}")
    return "\n".join(rows)


def measure(eval_seed: int, scale: int, blur_sigma: float) -> dict:
    """Prepare the model, generate the evaluated corpus, rank its pairs; the result with its settings."""
    with tempfile.TemporaryDirectory(prefix="offline-quality-") as scratch:
        start = time.perf_counter()
        scorer = fitted_scorer(Path(scratch) / "models")
        prepare_s = time.perf_counter() - start
        generate_corpus(Path(scratch) / "data", seed=eval_seed, scale=scale)
        pairs = corpus_pairs(Path(scratch) / "data")
    start = time.perf_counter()
    result = rank_pairs(scorer, pairs, blur_sigma)
    n_scored = sum(2 + len(rainy) for _, _, rainy in pairs)
    ms_per_image = 1000 * (time.perf_counter() - start) / n_scored
    return {**result, "fit_seed": FIT_SEED, "fit_scale": FIT_SCALE, "eval_seed": eval_seed, "scale": scale,
            "blur_sigma": blur_sigma, "clean_photos": len(pairs), "images_scored": n_scored,
            "prepare_s": round(prepare_s, 2), "ms_per_image": round(ms_per_image, 2)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.offline_quality",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--eval-seed", type=int, default=FIT_SEED,
                        help=f"seed of the evaluated corpus (default {FIT_SEED}: the one the model is fitted on)")
    parser.add_argument("--scale", type=int, default=FIT_SCALE, help="scale of the evaluated corpus")
    parser.add_argument("--blur-sigma", type=float, default=CORPUS_BLUR_SIGMA)
    args = parser.parse_args(argv)
    result = measure(args.eval_seed, args.scale, args.blur_sigma)
    print(f"fitted on corpus seed {FIT_SEED}, scale {FIT_SCALE} (prepare {result['prepare_s']:.1f} s); evaluated on "
          f"seed {args.eval_seed}, scale {args.scale}: {result['clean_photos']} clean photos, "
          f"{result['images_scored']} images scored, {result['ms_per_image']:.1f} ms each")
    print(format_report(result))
    OUT_FILE.parent.mkdir(exist_ok=True)
    OUT_FILE.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
