"""Contact sheets: for each subset (DRS/DRD/NRS/NRD), a few queries beside their K3 references and
the three scores each reference earned — for people to see what retrieval does, not for metrics."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from PIL import Image, ImageDraw

from storage.atomic import atomic_write, write_json
from storage.images import rainy_loader
from storage.vocabulary import SUBSET_OF

CAPTION_H = 30   # pixels of text under each thumbnail


def subset_of(row: dict) -> str:
    return SUBSET_OF.get((row["time_of_day"], row["rain_type"]), "OTHER")


def _thumb(load, row: dict, side: int) -> Image.Image:
    try:
        image = Image.fromarray(load(row))
    except Exception:  # noqa: BLE001 — a grey tile says "unreadable"; the sheet is still useful
        return Image.new("RGB", (side, side), (96, 96, 96))
    image.thumbnail((side, side))
    tile = Image.new("RGB", (side, side), (255, 255, 255))
    tile.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return tile


def draw_sheet(lines: list[tuple[dict, list[tuple[dict, dict]]]], data_root: Path, k3: int, side: int = 128) -> Image.Image:
    """lines: (query sample row, [(reference sample row, retrieval row)]) -> one RGB image."""
    load = rainy_loader(data_root)
    cell_h = side + CAPTION_H
    sheet = Image.new("RGB", ((k3 + 1) * side, max(1, len(lines)) * cell_h), (255, 255, 255))
    pen = ImageDraw.Draw(sheet)
    for y, (query, refs) in enumerate(lines):
        top = y * cell_h
        sheet.paste(_thumb(load, query, side), (0, top))
        pen.text((2, top + side + 2), f"query {query['dataset']}"[:22], fill=(0, 0, 0))
        for x, (ref, scores) in enumerate(refs[:k3], start=1):
            sheet.paste(_thumb(load, ref, side), (x * side, top))
            ssim = "-" if scores["s_ssim"] is None else f"{scores['s_ssim']:.2f}"
            pen.text((x * side + 2, top + side + 2), f"#{scores['rank']} {ref['dataset']}"[:22], fill=(0, 0, 0))
            pen.text((x * side + 2, top + side + 15), f"t{scores['s_txt']:.2f} v{scores['s_vis']:.2f} s{ssim}",
                     fill=(0, 0, 0))
    return sheet


def contact_sheets(retrievals: pa.Table, samples: dict[str, dict], data_root: Path, out_dir: Path, k3: int,
                   per_subset: int = 4) -> dict[str, Path]:
    """One PNG per subset under out_dir, the first `per_subset` queries (by id) that have references, and
    beside it a JSON list of the sheet's query and reference ids."""
    chosen = retrievals.filter(retrievals["selected"]).sort_by([("query_id", "ascending"), ("rank", "ascending")])
    by_query: dict[str, list[dict]] = {}
    for row in chosen.to_pylist():
        by_query.setdefault(row["query_id"], []).append(row)
    lines: dict[str, list] = {}
    for query_id, rows in by_query.items():
        subset = subset_of(samples[query_id])
        if len(lines.setdefault(subset, [])) < per_subset:
            lines[subset].append((samples[query_id], [(samples[r["reference_id"]], r) for r in rows]))
    written = {}
    for subset, subset_lines in sorted(lines.items()):
        path = out_dir / f"retrieval-{subset}.png"
        image = draw_sheet(subset_lines, data_root, k3)
        atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
        # the sheet's samples, line by line: what the review app's reports page links to its inspector
        write_json(path.with_suffix(".json"), {"queries": [
            {"query": query["sample_id"], "references": [ref["sample_id"] for ref, _ in refs[:k3]]}
            for query, refs in subset_lines]})
        written[subset] = path
    return written
