"""The Table-1-style report: one table per protocol, our rows and the published rows side by side.

Rows are restorers (the identity first: the rainy input itself), columns are test sets, a cell is
"PSNR / SSIM" (and "/ LPIPS" when measured), the mean over the test set's images. When RainRAG
subsets are present a `RainRAG` column holds the mean of the subset means, the figure the paper's
Table 1 reports. Published rows are copied from their source (evaluation.published), marked
*published* with the source named, and appear only in the table of the protocol they were measured
with: a number is never compared across protocols. Written as markdown and as a PNG (Pillow; the
stack has no matplotlib) into <store>/reports/.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from evaluation.protocols import get_protocol
from evaluation.published import published_for
from evaluation.test_sets import RAINRAG, WHOLE
from storage.atomic import atomic_write
from storage.vocabulary import SUBSETS

EMPTY = "–"


@dataclass
class Line:
    label: str
    published: bool
    cells: dict[str, str]


@dataclass
class Section:
    protocol: str
    summary: str
    columns: list[str]
    counts: dict[str, int]
    lines: list[Line] = field(default_factory=list)


def _key(row: dict) -> str:
    return row["test_set"] if row["subset"] == WHOLE else f"{row['test_set']}-{row['subset']}"


def _number(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def _cell(psnr: float | None, ssim: float | None, lpips: float | None = None) -> str:
    text = f"{_number(psnr, 2)} / {_number(ssim, 4)}"
    return text if lpips is None else f"{text} / {_number(lpips, 4)}"


def _column_order(key: str, ours: set[str]) -> tuple:
    """RainRAG's subsets in the paper's order (DRS, DRD, NRS, NRD) and their mean, then our public test
    sets by name, then the test sets only published rows have."""
    subset = key.removeprefix(f"{RAINRAG}-")
    if key == RAINRAG:
        return (0, len(SUBSETS), key)
    if key != subset and subset in SUBSETS:
        return (0, SUBSETS.index(subset), key)
    return (1 if key in ours else 2, 0, key)


def _display_name(rows: list[dict], labels: dict[str, int]) -> str:
    """identity (rainy input), or <label> (<network>); two checkpoints with one label also show their file."""
    first = rows[0]
    if first["checkpoint"] == "identity":
        return "identity (rainy input)"
    name = f"{first['label']} ({first['model']})"
    return name if labels[first["label"]] == 1 else f"{name} [{first['checkpoint']}]"


def _our_lines(rows: list[dict]) -> list[Line]:
    """One line per checkpoint, identity first, then by label; RainRAG subsets averaged into `RainRAG`."""
    by_checkpoint: dict[str, list[dict]] = {}
    for row in rows:
        by_checkpoint.setdefault(row["checkpoint"], []).append(row)
    labels: dict[str, int] = {}
    for group in by_checkpoint.values():
        labels[group[0]["label"]] = labels.get(group[0]["label"], 0) + 1
    lines = []
    for checkpoint in sorted(by_checkpoint, key=lambda c: (c != "identity", by_checkpoint[c][0]["label"], c)):
        mine = by_checkpoint[checkpoint]
        cells = {_key(r): _cell(r["psnr"], r["ssim"], r["lpips"]) for r in mine}
        subsets = [r for r in mine if r["test_set"] == RAINRAG]
        if subsets:
            lpips = [r["lpips"] for r in subsets]
            cells[RAINRAG] = _cell(sum(r["psnr"] for r in subsets) / len(subsets),
                                   sum(r["ssim"] for r in subsets) / len(subsets),
                                   None if None in lpips else sum(lpips) / len(lpips))
        lines.append(Line(_display_name(mine, labels), False, cells))
    return lines


def build_sections(rows: list[dict], protocols: list[str]) -> list[Section]:
    """A section per protocol, with our rows of that protocol and the published rows measured under it."""
    sections = []
    for protocol in protocols:
        mine = [r for r in rows if r["protocol"] == protocol]
        ours = {_key(r) for r in mine} | ({RAINRAG} if any(r["test_set"] == RAINRAG for r in mine) else set())
        published = published_for(protocol)
        columns = sorted(ours | {k for p in published for k in p.cells}, key=lambda k: _column_order(k, ours))
        counts = {_key(r): r["n"] for r in mine}
        section = Section(protocol, get_protocol(protocol).summary, columns, counts, _our_lines(mine))
        section.lines += [Line(f"{p.model} (published: {p.source})", True,
                               {k: _cell(*v) for k, v in p.cells.items()}) for p in published]
        sections.append(section)
    return sections


def _header(section: Section, column: str) -> str:
    n = section.counts.get(column)
    return f"{column} (n={n})" if n is not None else column


def to_markdown(sections: list[Section], title: str = "rainrag benchmark") -> str:
    parts = [f"# {title}\n",
             "Each cell is **PSNR (dB) / SSIM** (then LPIPS when measured): the mean over the test set's images, "
             "scored from the saved 8-bit PNGs under the protocol named in the section heading. `n` is the number "
             "of images. *Italic rows are published numbers copied from their source, not reproduced by rainrag*; "
             f"`{EMPTY}` means no number for that test set. Compare numbers only within one protocol.\n"]
    for section in sections:
        parts.append(f"## `{section.protocol}`: {section.summary}\n")
        parts.append("| model | " + " | ".join(_header(section, c) for c in section.columns) + " |")
        parts.append("|---|" + "---|" * len(section.columns))
        for line in section.lines:
            cells = [line.cells.get(c, EMPTY) for c in section.columns]
            label = f"*{line.label}*" if line.published else line.label
            cells = [f"*{c}*" if line.published and c != EMPTY else c for c in cells]
            parts.append(f"| {label} | " + " | ".join(cells) + " |")
        parts.append("")
    return "\n".join(parts)


def render_png(sections: list[Section], path: Path) -> Path:
    """The tables as an image: our rows in black, published rows in grey, one block per protocol."""
    font = ImageFont.load_default()
    pad, row_h = 8, 18
    blocks = []
    for s in sections:
        grid = [["model"] + [_header(s, c) for c in s.columns]]
        grid += [[line.label] + [line.cells.get(c, EMPTY) for c in s.columns] for line in s.lines]
        widths = [max(int(font.getlength(r[i].replace(EMPTY, "-"))) for r in grid) + 2 * pad
                  for i in range(len(grid[0]))]
        blocks.append((f"{s.protocol}: {s.summary}", grid, widths, [False] + [ln.published for ln in s.lines]))
    width = max([sum(b[2]) + 2 * pad for b in blocks] + [720])
    height = sum((len(b[1]) + 2) * row_h for b in blocks) + 2 * pad + 2 * row_h
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((pad, pad), "PSNR (dB) / SSIM, mean over images. Grey rows: published numbers, not reproduced by "
              "rainrag. Compare only within one protocol.", fill=(0, 0, 0), font=font)
    y = pad + 2 * row_h
    for title, grid, widths, published in blocks:
        draw.text((pad, y), title, fill=(0, 0, 0), font=font)
        y += row_h
        for r, row in enumerate(grid):
            x = pad
            colour = (130, 130, 130) if published[r] else (0, 0, 0)
            for text, w in zip(row, widths):
                draw.text((x + pad, y + 3), text.replace(EMPTY, "-"), fill=colour, font=font)  # the font lacks "–"
                draw.rectangle((x, y, x + w, y + row_h), outline=(200, 200, 200))
                x += w
            y += row_h
        y += row_h
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))
    return path


def write_report(folder: Path, rows: list[dict], protocols: list[str]) -> tuple[Path, Path, str]:
    """(markdown file, PNG file, markdown text) of the report of `rows` in `folder`."""
    sections = build_sections(rows, protocols)
    markdown = to_markdown(sections)
    md_path = atomic_write(Path(folder) / "benchmark.md", lambda tmp: tmp.write_text(markdown, encoding="utf-8"))
    png_path = render_png(sections, Path(folder) / "benchmark.png")
    return md_path, png_path, markdown
