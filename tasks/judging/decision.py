"""The ensemble's decision: a sample is kept when at least `min_yes` judges answered yes.

Abstain (an answer that could not be parsed) and error (a call that failed) never count as yes: a
judge that did not say yes did not vouch for the pair. With three judges the default is 2 of 3, the
paper's majority.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from models.pipeline.roles import JUDGE_ROLES
from storage.vocabulary import ANSWERS

MIN_YES = 2   # [paper] majority of the three judges


@dataclass(frozen=True)
class VoteCount:
    yes: int = 0
    no: int = 0
    abstain: int = 0
    error: int = 0

    @property
    def judged(self) -> int:
        return self.yes + self.no + self.abstain + self.error


def count_votes(answers: Iterable[str]) -> VoteCount:
    """Tally one sample's answers; anything outside yes|no|abstain|error is a bug upstream, not a vote."""
    counts = Counter(answers)
    unknown = sorted(set(counts) - set(ANSWERS))
    if unknown:
        raise ValueError(f"unknown vote answers {unknown}; expected one of {ANSWERS}")
    return VoteCount(counts["yes"], counts["no"], counts["abstain"], counts["error"])


def check_min_yes(min_yes: int, judges: int = len(JUDGE_ROLES)) -> int:
    """`min_yes` must be reachable and must ask for at least one yes."""
    if not 1 <= min_yes <= judges:
        raise ValueError(f"min_yes={min_yes}: it must be between 1 and the number of judges ({judges})")
    return min_yes


def keep(votes: VoteCount, min_yes: int = MIN_YES) -> bool:
    """Whether the sample enters RainRAG: yes votes alone decide."""
    return votes.yes >= min_yes
