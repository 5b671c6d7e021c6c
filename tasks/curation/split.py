"""RainRAG's own train/test split: a fixed number of test pairs per subset, whole backgrounds at a time.

A background is a clean image (its content hash): every rainy version of it — the many-to-one sets of
DDN-Data or GTAV-NightRain, the same scene shipped by two datasets — lands on one side, so no test pair
shares its ground truth with a training pair, whatever subset either is in.

Per subset, backgrounds are taken in the order of a hash of their content hash (deterministic, and
independent of row order or of which store the rows came from) while the subset's test pairs stay
within its target. The target is `test_per_subset`, but never more than a fifth of the subset's pairs
(TEST_SHARE_MAX): a small subset keeps most of its data for training rather than giving it all to test,
a subset of fewer than 5 pairs gets no test pair, and nor does one whose backgrounds are all larger than
its target (one clean image behind every pair cannot be split). A background taken for one subset
also moves its pairs in the other subsets to test, which can put those subsets slightly past target.

Released splits never move (tasks.curation.releases): `pinned` maps the backgrounds of released pairs
to the split they were released in. A pinned test background stays in test whatever the targets say,
and a pinned train background is never taken for test; only backgrounds never released are drawn,
and they fill what the pinned ones leave of each target.
"""
from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import Iterable, Mapping

from tasks.curation.subsets import SUBSETS

TEST_PER_SUBSET = 100   # [paper] RainRAG's test set: 100 pairs of each subset
TEST_SHARE_MAX = 0.2    # [ours] a subset gives at most this share of its pairs to test


def _rank(background: str) -> bytes:
    return hashlib.blake2b(background.encode("utf-8"), digest_size=8).digest()


def held_out_target(pairs_in_subset: int, test_per_subset: int, share_max: float = TEST_SHARE_MAX) -> int:
    """Test pairs a subset of this many pairs should give: at most `share_max` of them."""
    return min(test_per_subset, int(pairs_in_subset * share_max))


def split_pairs(pairs: Iterable[Mapping[str, str]], test_per_subset: int = TEST_PER_SUBSET,
                share_max: float = TEST_SHARE_MAX, pinned: Mapping[str, str] | None = None) -> dict[str, str]:
    """sample_id -> "train" | "test" for rows with sample_id, subset and background (the clean hash);
    `pinned`: background -> the split it was released in."""
    if test_per_subset < 0:
        raise ValueError(f"test_per_subset={test_per_subset} must be >= 0")
    pairs = list(pairs)
    size: dict[str, Counter[str]] = defaultdict(Counter)     # subset -> background -> pairs
    for p in pairs:
        size[p["subset"]][p["background"]] += 1
    pinned = pinned or {}
    test = {background for background, split in pinned.items() if split == "test"}
    for subset in SUBSETS:
        counts = size.get(subset, Counter())
        target = held_out_target(sum(counts.values()), test_per_subset, share_max)
        taken = sum(n for background, n in counts.items() if background in test)
        for background in sorted(counts, key=_rank):
            if taken >= target:
                break
            if background not in pinned and background not in test and taken + counts[background] <= target:
                test.add(background)
                taken += counts[background]
    return {p["sample_id"]: "test" if p["background"] in test else "train" for p in pairs}
