"""RainRAG's domain vocabulary, defined once for the pipeline, training and evaluation alike.

The bottom layer (it imports nothing of the project): the four subsets and how the ingest labels
decide them, the split names, and the judges' answers.
"""
from __future__ import annotations

# The subsets of RainRAG: day/night × rain streaks/raindrops. A subset's label id is its index
# [repo: drs=0, drd=1, nrs=2, nrd=3], its folder in the authors' layout its lower-case name.
SUBSETS = ("DRS", "DRD", "NRS", "NRD")
SUBSET_OF = {("day", "streak"): "DRS", ("day", "drop"): "DRD", ("night", "streak"): "NRS", ("night", "drop"): "NRD"}
TIMES_OF_DAY = ("day", "night")
RAIN_TYPES = ("streak", "drop")

# RainRAG's own splits (and the folders of the authors' layout).
SPLITS = ("train", "test")

# A judge's answer: "yes", "no" or "abstain" (anything unparseable), or "error" when the call itself
# failed (then the vote says why and can be retried).
ANSWERS = ("yes", "no", "abstain", "error")


def subset_folder(subset: str) -> str:
    """The folder of a subset in the authors' layout: `drs` for DRS."""
    return subset.lower()
