"""The keep rule: yes votes alone decide; abstain and error never count as yes."""
from __future__ import annotations

import pytest

from tasks.judging.decision import VoteCount, check_min_yes, count_votes, keep


@pytest.mark.parametrize("answers, kept", [
    (["yes", "yes", "yes"], True),
    (["yes", "yes", "no"], True),
    (["yes", "no", "no"], False),
    (["yes", "abstain", "abstain"], False),   # two judges did not vouch for the pair
    (["yes", "error", "error"], False),
    (["yes", "yes", "error"], True),          # a failed call does not block a majority already there
    (["abstain", "abstain", "abstain"], False),
])
def test_two_of_three_yes_keeps_a_pair_and_nothing_else_counts_as_yes(answers, kept):
    assert keep(count_votes(answers)) is kept


def test_min_yes_is_configurable_and_checked():
    three = count_votes(["yes", "yes", "no"])
    assert keep(three, min_yes=1) and keep(three, min_yes=2) and not keep(three, min_yes=3)
    assert check_min_yes(3) == 3
    for bad in (0, 4):
        with pytest.raises(ValueError, match="between 1 and the number of judges"):
            check_min_yes(bad)


def test_counts_are_per_answer_and_unknown_answers_are_refused():
    assert count_votes(["yes", "no", "abstain", "error", "no"]) == VoteCount(yes=1, no=2, abstain=1, error=1)
    assert count_votes([]).judged == 0
    with pytest.raises(ValueError, match="unknown vote answers"):
        count_votes(["Yes."])
