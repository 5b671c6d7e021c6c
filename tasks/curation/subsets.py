"""The subset of a pair: DRS, DRD, NRS or NRD (day/night x rain streaks/raindrops).

From the dataset's labels when it has them; where a dataset mixes day and night (time_of_day null) or
rain types (rain_type null, or "streak+drop"), from what the rainy image shows — the `inspect`
stage's measurements, with the offline descriptors' thresholds — and recorded as subset_source="image".
"""
from __future__ import annotations

from dataclasses import dataclass

from models.pipeline.offline.descriptive import NIGHT_MEDIAN_LUMA, SPOTS_PER_10K, STREAKS_PER_10K
from storage.vocabulary import RAIN_TYPES, SUBSET_OF, SUBSETS, TIMES_OF_DAY

__all__ = ["SUBSETS", "SUBSET_OF", "SubsetDecision", "decide_subset"]


@dataclass(frozen=True)
class SubsetDecision:
    subset: str | None         # None: labels missing and no usable measurement
    source: str                # dataset | image
    reason: str | None = None  # why there is no subset


# (night below this median luminance, streaks per 10k pixels that mark rain, spots per 10k that mark drops)
IMAGE_EVIDENCE = (NIGHT_MEDIAN_LUMA, STREAKS_PER_10K, SPOTS_PER_10K)


def measured_time(median_luma: float, night_below: float = NIGHT_MEDIAN_LUMA) -> str:
    return "night" if median_luma < night_below else "day"


def measured_rain(streaks_per_10k: float, spots_per_10k: float, streaks: float = STREAKS_PER_10K,
                  spots: float = SPOTS_PER_10K) -> str:
    """The rain kind whose evidence is stronger, each count scaled by the level that marks it as rain
    (clean images stay under both), so the two counts are comparable."""
    return "streak" if streaks_per_10k / streaks >= spots_per_10k / spots else "drop"


def decide_subset(time_of_day: str | None, rain_type: str | None, inspection: dict | None,
                  evidence: tuple[float, float, float] = IMAGE_EVIDENCE) -> SubsetDecision:
    """The pair's subset from its labels, falling back to its rainy image's measurements (`evidence`:
    the thresholds of IMAGE_EVIDENCE)."""
    time_known, rain_known = time_of_day in TIMES_OF_DAY, rain_type in RAIN_TYPES
    if time_known and rain_known:
        return SubsetDecision(SUBSET_OF[(time_of_day, rain_type)], "dataset")
    if not inspection or inspection.get("status") != "ok":
        why = (inspection or {}).get("error") or "not inspected"
        return SubsetDecision(None, "image", f"labels time_of_day={time_of_day}, rain_type={rain_type} need the "
                                             f"image, which could not be measured ({why})")
    night_below, streaks, spots = evidence
    time = time_of_day if time_known else measured_time(inspection["median_luma"], night_below)
    rain = rain_type if rain_known else measured_rain(inspection["streaks_per_10k"], inspection["spots_per_10k"],
                                                      streaks, spots)
    return SubsetDecision(SUBSET_OF[(time, rain)], "image")
