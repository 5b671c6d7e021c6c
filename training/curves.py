"""The run's metrics log (Parquet) and its curves (PNG), drawn with Pillow: the stack has no matplotlib.

Log rows are dicts with `step` and `kind`: "train" rows carry lr, loss, balance and l1_<TYPE>;
"val" rows carry l1_<TYPE>, psnr_<TYPE>, psnr_input_<TYPE> and weight_<TYPE> (the weights in force
after that validation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from PIL import Image, ImageDraw, ImageFont

from storage.atomic import atomic_write, write_parquet

COLORS = {"DRS": (31, 119, 180), "DRD": (255, 127, 14), "NRS": (44, 160, 44), "NRD": (214, 39, 40),
          "loss": (60, 60, 60)}
WIDTH, PANEL_HEIGHT, MARGIN = 900, 260, 60


def write_log(path: Path, rows: list[dict]) -> Path:
    """All rows as one Parquet table; columns a row lacks are null."""
    columns = sorted({key for row in rows for key in row}, key=lambda c: (c not in ("step", "kind"), c))
    return write_parquet(path, pa.table({c: [row.get(c) for row in rows] for c in columns}))


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]
    color: tuple[int, int, int]
    dashed: bool = False


def series_of(rows: list[dict], kind: str, column: str, label: str, color, dashed: bool = False) -> Series:
    points = [(r["step"], r[column]) for r in rows
              if r["kind"] == kind and r.get(column) is not None and math.isfinite(r[column])]
    return Series(label, [p[0] for p in points], [p[1] for p in points], color, dashed)


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    return [low + (high - low) * i / count for i in range(count + 1)]


def _dashes(a: tuple[float, float], b: tuple[float, float], dash: float = 6.0) -> list[tuple]:
    """Every other `dash`-pixel piece of the segment a-b."""
    length = math.dist(a, b)
    pieces = []
    for start in range(0, max(1, math.ceil(length / dash)), 2):
        t0, t1 = start * dash / max(length, 1e-9), min(1.0, (start + 1) * dash / max(length, 1e-9))
        pieces.append(((a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0),
                       (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)))
    return pieces


def draw_panel(draw: ImageDraw.ImageDraw, top: int, title: str, series: list[Series], font) -> None:
    """One x-y panel with a frame, 5 y ticks, x range labels and a legend."""
    box = (MARGIN, top + 25, WIDTH - 150, top + PANEL_HEIGHT - 30)
    draw.rectangle(box, outline=(0, 0, 0))
    draw.text((MARGIN, top + 5), title, fill=(0, 0, 0), font=font)
    drawn = [s for s in series if s.xs]
    if not drawn:
        draw.text((box[0] + 10, box[1] + 10), "no data yet", fill=(120, 120, 120), font=font)
        return
    x0, x1 = min(min(s.xs) for s in drawn), max(max(s.xs) for s in drawn)
    y0, y1 = min(min(s.ys) for s in drawn), max(max(s.ys) for s in drawn)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-6)

    def at(x: float, y: float) -> tuple[float, float]:
        return (box[0] + (x - x0) / (x1 - x0) * (box[2] - box[0]), box[3] - (y - y0) / (y1 - y0) * (box[3] - box[1]))

    for value in _ticks(y0, y1):
        _, py = at(x0, value)
        draw.line((box[0] - 4, py, box[0], py), fill=(0, 0, 0))
        draw.text((4, py - 6), f"{value:.4g}", fill=(0, 0, 0), font=font)
    draw.text((box[0], box[3] + 5), f"step {x0:g}", fill=(0, 0, 0), font=font)
    draw.text((box[2] - 70, box[3] + 5), f"step {x1:g}", fill=(0, 0, 0), font=font)
    for index, s in enumerate(drawn):
        points = [at(x, y) for x, y in zip(s.xs, s.ys)]
        for a, b in zip(points, points[1:]):
            for piece in (_dashes(a, b) if s.dashed else [(a, b)]):
                draw.line(piece, fill=s.color, width=2)
        if len(points) == 1:
            draw.ellipse((points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2), fill=s.color)
        legend_y = box[1] + 16 * index
        draw.line((box[2] + 10, legend_y + 6, box[2] + 30, legend_y + 6), fill=s.color, width=2)
        draw.text((box[2] + 35, legend_y), s.label, fill=(0, 0, 0), font=font)


def plot_curves(path: Path, rows: list[dict], types: list[str]) -> Path:
    """Training loss, validation PSNR per type (dashed: the rainy input) and the per-type weights."""
    panels = [
        ("training loss (weighted L1 + balance)", [series_of(rows, "train", "loss", "loss", COLORS["loss"])]),
        ("validation PSNR, dB (RGB, centre crops; dashed: rainy input)",
         [series_of(rows, "val", f"psnr_{t}", t, COLORS[t]) for t in types]
         + [series_of(rows, "val", f"psnr_input_{t}", f"{t} in", COLORS[t], dashed=True) for t in types]),
        ("per-type loss weights", [series_of(rows, "val", f"weight_{t}", t, COLORS[t]) for t in types]),
    ]
    image = Image.new("RGB", (WIDTH, PANEL_HEIGHT * len(panels)), (255, 255, 255))
    draw, font = ImageDraw.Draw(image), ImageFont.load_default()
    for index, (title, series) in enumerate(panels):
        draw_panel(draw, index * PANEL_HEIGHT, title, series, font)
    return atomic_write(Path(path), lambda tmp: image.save(tmp, format="PNG"))
