"""Layout cases: what a download of each dataset puts on disk, and the candidates it must give.

Each case lists real image paths (relative to the data root) as `shared/reference/datasets.md` documents
them, with their variants (odd case, nested extraction folders, .jpg vs .png), and the non-sample
files that sit next to them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Table 1 of the UniRain supplement: name -> (train, test, paired).
TABLE1 = {
    "Rain12": (0, 12, True), "Rain100L": (1800, 100, True), "Rain100H": (1800, 100, True),
    "Rain200L": (1800, 200, True), "Rain200H": (1800, 200, True), "DDN-Data": (12600, 1400, True),
    "DID-Data": (12000, 1200, True), "RainDrop": (861, 249, True), "Rain800": (700, 100, True),
    "SPA-Data": (638492, 1000, True), "MPID": (3961, 419, True), "RainCityscapes": (9432, 1188, True),
    "Outdoor-Rain": (9000, 1500, True), "Rain13K": (13712, 4298, True), "RainKITTI2012": (4062, 4085, True),
    "RainKITTI2015": (4200, 4189, True), "IVIPC-DQA": (206, None, False), "RainDS": (3450, 900, True),
    "RainDirection": (2920, 430, True), "Real3000": (2700, 300, False), "GT-RAIN": (28217, 2100, True),
    "RealRain-1K": (1568, 224, True), "SynRain-13K": (13711, 1200, True), "GTAV-NightRain": (11860, 1186, True),
    "VRDS": (7200, 3000, True), "LWDDS": (67500, 600, True), "LHP-Rain": (1000000, 1000, True),
    "UAV-Rain1k": (800, 220, True), "RoadScene-rain": (181, 40, True), "RaindropClarity": (13368, 1818, True),
    "HQ-NightRain": (10000, 300, True), "WeatherBench-Rain": (14729, 200, True), "FoundIR-Rain": (204789, 300, True),
    "GenDeg-Rain": (239441, 1298, True), "CDD-11-Rain": (3549, 800, True), "URIR-8K": (7200, 800, True),
}

O2O, M2O, SBS, LIST, UNP = "one_to_one", "many_to_one", "side_by_side", "list_file", "unpaired"


def pair(rainy: str, clean: str | None, split: str, kind: str = O2O) -> tuple:
    return (rainy, clean, split, kind)


def sbs(path: str, split: str) -> tuple:
    return (path, path, split, SBS)


@dataclass
class Case:
    dataset: str
    files: list[str]                      # samples and their partners (relative to the data root)
    expected: set[tuple]                  # (rainy_path, clean_path, split, pairing)
    traps: list[str] = field(default_factory=list)     # files that must never become a candidate
    wide: list[str] = field(default_factory=list)      # side-by-side files (written twice as wide)
    texts: dict[str, str] = field(default_factory=dict)  # list files / manifests
    labels: dict[str, tuple] = field(default_factory=dict)  # rainy -> (time_of_day, rain_type, is_real)
    sides: dict[str, str] = field(default_factory=dict)     # rainy -> side_by_side order


