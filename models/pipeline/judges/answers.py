"""Strict reading of a judge's free-text answer: "yes", "no" or "abstain", never a guess.

An answer counts only when its first word is "yes" or "no" (after markdown, quotes and an
"Answer:" label are stripped) and nothing after it takes that back:
  - the other answer word anywhere ("No, yes", "Yes or no?")           -> abstain
  - a hedge or a refusal word ("yes, but...", "maybe", "I cannot")     -> abstain
  - a question mark right after the word ("Yes?")                      -> abstain
  - any other first word: another language, a refusal, a sentence that
    buries the answer ("The answer is yes"), an empty string            -> abstain
"Yes." / "**No**" / "Answer: yes" / "Yes, the rain looks real." are read as given.
"""
from __future__ import annotations

import re
import unicodedata

# Words that qualify or withdraw an answer: the judge did not commit, so neither do we.
HEDGES = frozenset("""
    but however although though except unless partially partly somewhat maybe perhaps possibly probably
    might unsure unclear uncertain depends depending sorry cannot cant unable difficult hard impossible
    neither either or
""".split())
LABEL = re.compile(r"^\s*(?:final\s+answer|answer|assistant|response)\s*[:\-]\s*", re.IGNORECASE)
MARKUP = re.compile(r"[*_`#>\"“”‘’«»\[\]()]")
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    text = MARKUP.sub(" ", text)
    return LABEL.sub("", text).strip().lower()


def parse_answer(text: str | None) -> str:
    """'yes', 'no' or 'abstain' for one raw judge output (see the module docstring for the rules)."""
    normalised = _normalise(text or "")
    words = WORD.findall(normalised)
    if not words or words[0] not in ("yes", "no"):
        return "abstain"
    answer, rest = words[0], words[1:]
    after_word = normalised[normalised.find(answer) + len(answer):].lstrip()
    if after_word.startswith("?"):
        return "abstain"
    other = "no" if answer == "yes" else "yes"
    rest_words = {word.replace("'", "") for word in rest}
    if other in rest_words or rest_words & HEDGES:
        return "abstain"
    return answer
