"""Published PSNR/SSIM numbers shown beside ours in the report, always marked as published, never reproduced.

Each row carries its source and the protocol its authors used (as far as their released evaluation
code tells: shared reference metrics.md and paper-notes.md). Test-set names are rainrag's: a dataset's
registry name (DID-Data, SPA-Data), `RainRAG-<subset>` for a RainRAG subset and `RainRAG` for the mean
of the four subsets, the figure the paper's Table 1 reports.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedRow:
    model: str
    source: str
    protocol: str
    cells: dict[str, tuple[float, float]]  # test set -> (PSNR dB, SSIM)


# UniRain Table 1 (RainRAG test, mean of the four subsets). The authors' metric script computes PSNR on RGB
# and SSIM on Y with pyiqa's defaults (paper-notes §5), hence `pyiqa_default`.
_TABLE1 = "UniRain paper, Table 1"
_TABLE1_AVERAGES = {
    "input": (23.13, 0.7220), "PReNet": (26.33, 0.8292), "MPRNet": (27.17, 0.8291), "Restormer": (27.89, 0.8405),
    "DRSformer": (27.22, 0.8291), "MSDT": (27.94, 0.8410), "NeRD-Rain": (27.65, 0.8340), "URIR": (27.91, 0.8425),
}
_UNIRAIN = {"RainRAG": (28.93, 0.8515), "RainRAG-DRS": (29.58, 0.8400), "RainRAG-DRD": (24.71, 0.7687),
            "RainRAG-NRS": (35.23, 0.9592), "RainRAG-NRD": (26.21, 0.8380),
            # Table 2, real-world test sets
            "RealRain-1K-L": (36.51, 0.9778), "RealRain-1K-H": (33.74, 0.9672), "RainDS-real-RD": (22.07, 0.6436),
            "RainDS-real-RDS": (20.61, 0.5881), "WeatherBench-Rain": (34.25, 0.9448)}

# Restormer's official checkpoint re-evaluated by MMagic with the MATLAB script (uint8 Y).
_RESTORMER_RAIN13K = {"Test100": (32.03, 0.9239), "Rain100H": (31.48, 0.9056), "Rain100L": (39.10, 0.9787),
                      "Test2800": (34.22, 0.9451), "Test1200": (33.23, 0.9272)}

# DRSformer's table: Rain200L/H and SPA with uint8 Y, DID and DDN with float Y (metrics.md).
_DRSFORMER_U8 = {
    "Restormer": {"Rain200L": (40.99, 0.9890), "Rain200H": (32.00, 0.9329), "SPA-Data": (47.98, 0.9921)},
    "DRSformer": {"Rain200L": (41.23, 0.9894), "Rain200H": (32.17, 0.9326), "SPA-Data": (48.54, 0.9924)},
}
_DRSFORMER_DOUBLE = {
    "Restormer": {"DID-Data": (35.29, 0.9641), "DDN-Data": (34.20, 0.9571)},
    "DRSformer": {"DID-Data": (35.35, 0.9646), "DDN-Data": (34.35, 0.9588)},
}

PUBLISHED: tuple[PublishedRow, ...] = (
    *(PublishedRow(model, _TABLE1, "pyiqa_default", {"RainRAG": cell}) for model, cell in _TABLE1_AVERAGES.items()),
    PublishedRow("UniRain", "UniRain paper, Tables 1-2", "pyiqa_default", _UNIRAIN),
    PublishedRow("Restormer", "MMagic re-evaluation of the official Restormer", "matlab_y_u8", _RESTORMER_RAIN13K),
    *(PublishedRow(model, "DRSformer paper", "matlab_y_u8", cells) for model, cells in _DRSFORMER_U8.items()),
    *(PublishedRow(model, "DRSformer paper", "matlab_y_double", cells) for model, cells in _DRSFORMER_DOUBLE.items()),
)


def published_for(protocol: str) -> list[PublishedRow]:
    """The published rows measured under `protocol`."""
    return [row for row in PUBLISHED if row.protocol == protocol]
