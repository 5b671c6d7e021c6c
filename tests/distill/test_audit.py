"""The audit on a copy of the sample corpus with a planted near-duplicate and a planted misaligned pair."""
from __future__ import annotations

import base64
import io
import re
import shutil
from collections import Counter

import numpy as np
import pyarrow as pa
from PIL import Image

from storage.stage import GLOBAL_SHARD, plan, run_inline
from tasks.audit import dataset_card
from tasks.auditing.card import card_with_embedded_plots
from tests.distill.stages import build


def table(store, name, shards):
    return pa.concat_tables(store.read_shard(name, s) for s in shards)


def only_owner(rows: list[dict], predicate) -> dict:
    """The first row matching `predicate` whose clean image belongs to it alone (no sibling shares it)."""
    owners = Counter(r["clean_hash"] for r in rows)
    return next(r for r in rows if predicate(r) and owners[r["clean_hash"]] == 1 and not r["side_by_side"])


def shift_right(path, fraction: float = 0.125) -> None:
    pixels = np.asarray(Image.open(path).convert("RGB"))
    dx = max(4, int(pixels.shape[1] * fraction))
    shifted = np.concatenate([np.repeat(pixels[:, :1], dx, axis=1), pixels[:, :-dx]], axis=1)
    Image.fromarray(shifted).save(path)


def test_audit_reports_planted_near_duplicate_and_misaligned_pair(corpus_store, retrieved_copy, offline_profile,
                                                                  tmp_path):
    _, store, shards = retrieved_copy
    data = tmp_path / "data"
    shutil.copytree(corpus_store[0], data)
    samples = [s for s in table(store, "samples", shards).to_pylist() if s["clean_path"]]
    shifted = only_owner(samples, lambda s: s["dataset"] == "Rain100L" and s["split"] == "train")
    shift_right(data / shifted["clean_path"])

    for name in ("inspect", "dedup", "judge", "manifest"):
        stage = build(name, store, data, offline_profile)
        run_inline(store, stage, [GLOBAL_SHARD] if name in ("dedup", "manifest") else shards)
    manifest = store.read_shard("manifest", GLOBAL_SHARD).to_pylist()
    source = only_owner(manifest, lambda m: m["split"] == "train" and m["dataset"] != "Rain200H")
    # a public test image that is the train pair's background, re-encoded a little brighter
    leaked = only_owner(samples, lambda s: s["dataset"] == "Rain200H" and s["split"] == "test")
    background = np.asarray(Image.open(data / source["clean_path"]).convert("RGB")).astype(int)
    Image.fromarray(np.clip(background + 6, 0, 255).astype(np.uint8)).save(data / leaked["clean_path"])
    leaked_shard = next(s for s in shards if s.startswith("Rain200H"))
    store.ledger.forget_shard("inspect", leaked_shard)   # its files changed on disk: measure them again
    store.drop_shard("inspections", leaked_shard)
    assert len(run_inline(store, build("inspect", store, data, offline_profile), shards)) == 1

    run_inline(store, build("audit", store, data, offline_profile), [GLOBAL_SHARD])
    audit = store.read_shard("audit", GLOBAL_SHARD).to_pylist()
    duplicates = [r for r in audit if r["finding"] == "near_duplicate"]
    assert [(r["sample_id"], r["other_id"], r["image"]) for r in duplicates] == \
           [(source["sample_id"], leaked["sample_id"], "clean-clean")]
    assert duplicates[0]["score"] <= duplicates[0]["threshold"] and duplicates[0]["other_dataset"] == "Rain200H"
    misaligned = [r for r in audit if r["finding"] == "misaligned"]
    why = {r["sample_id"]: r["detail"] for r in misaligned}
    # the shifted clean image, and the leaked test sample, whose clean image is now another scene
    assert set(why) == {shifted["sample_id"], leaked["sample_id"]}, misaligned
    assert why[shifted["sample_id"]].startswith("a shift correlates")
    assert why[leaked["sample_id"]].startswith("low frequencies correlate only")

    funnel = {r["dataset"]: r for r in audit if r["finding"] == "funnel"}
    everything = table(store, "samples", shards).to_pylist()
    judged = set(table(store, "votes", shards)["sample_id"].to_pylist())
    assert set(funnel) == {s["dataset"] for s in everything}
    for dataset, row in funnel.items():
        assert row["entered"] == sum(s["dataset"] == dataset for s in everything)
        assert row["passed_quality"] == row["entered"]   # every corpus image reads and scores
        assert row["judged"] == sum(s["dataset"] == dataset and s["sample_id"] in judged for s in everything)
        assert row["kept"] == sum(m["dataset"] == dataset for m in manifest)
    assert funnel["Real3000"]["judged"] == 0            # unpaired: references, never queries
    assert plan(store, build("audit", store, data, offline_profile), [GLOBAL_SHARD])[0] == []

    card = dataset_card(store)
    text = card.read_text()
    assert "Near-duplicates of public test images in the train split: 1" in text and leaked["sample_id"] in text
    # its sample ids open in the review app's inspector
    assert f"[{leaked['sample_id']}](http://127.0.0.1:8765/samples/{leaked['sample_id']})" in text
    assert "Misaligned pairs: 2" in text and f"{len(manifest)} pairs" in text
    # decisions per dataset: Real3000 is all references, Rain200H's test split is held out
    section = text.split("## Decisions")[1].split("\n## ")[0]
    decided = {line.split(" | ")[0].lstrip("| "): line for line in section.splitlines() if line.startswith("| ")}
    assert "| dataset | ingest | pairing | public_test | duplicate | judges | subset | kept |" in section
    assert decided["Real3000"].split(" | ")[2] == str(funnel["Real3000"]["entered"])
    assert int(decided["Rain200H"].split(" | ")[3]) > 0
    for plot in ("dataset-funnel.png", "dataset-subsets.png"):
        with Image.open(card.parent / plot) as image:
            assert image.width > 300 and len(set(image.convert("RGB").getdata())) > 20
    # the Prefect UI cannot read the store's files: its copy of the card carries the plots themselves
    inline = card_with_embedded_plots(card)
    uris = re.findall(r"!\[[^\]]*\]\(data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)\)", inline)
    assert len(uris) == 2 and "](dataset-" not in inline and "](dataset-funnel.png)" in text
    with Image.open(io.BytesIO(base64.b64decode(uris[0][1]))) as shown, \
            Image.open(card.parent / "dataset-subsets.png") as drawn_plot:
        assert shown.size == drawn_plot.size
    drawn = card.stat().st_mtime_ns
    assert dataset_card(store).stat().st_mtime_ns == drawn    # the same audit is not drawn twice
