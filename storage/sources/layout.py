"""The layout language: how a dataset's rainy and clean files are found and paired.

A dataset declares rules, tried in order; the first rule whose `match` regex fully matches a file's
path (relative to the dataset folder, POSIX, case-insensitive) claims the file. Files no rule claims
are not samples (masks, streak layers, infrared, depth, direction labels, `Blur/` ...), which is why
patterns are exact rather than loose globs. Kinds:

- `one_to_one`, `many_to_one`: the file is rainy; `clean` lists path templates tried in order, filled
  with the regex's named groups and `{dir}` (the file's folder, with a trailing slash), `{file}`,
  `{stem}`, `{suffix}`. Every path component is matched case-insensitively, and a final `.*` stands
  for any image suffix. The first template that exists is the partner; none is a `missing partner`.
- `side_by_side`: the file holds both images; `order` says which half is rainy.
- `list_file`: the file is a pair list read as `pair_list` says (see `ListFormat`); entries are resolved like templates.
  `pair_list.keep` keeps only rows whose named cells fully match a regex (case-insensitive), so one list
  that covers many degradations can yield only its rain rows; `pair_list.roots` names the folders
  (relative to the list file's folder) that entries may be relative to, for lists kept beside the data
  folder rather than in it.
- `unpaired`: the file is rainy and has no clean image.

Split: the rule's `split`, else its regex group `split` (normalised: `training` -> train, `test_a` ->
test, `validation` -> val, ...), else a list file's split field, else `train`. `test_ranges` marks
numeric ids (regex group `id`) as test, as Real3000's README does.
"""
from __future__ import annotations

import re
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Kind = Literal["one_to_one", "many_to_one", "side_by_side", "list_file", "unpaired"]
TimeOfDay = Literal["day", "night"]
RainType = Literal["streak", "drop", "streak+drop"]
Origin = Literal["syn", "real", "syn+real"]

DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")

SPLIT_ALIASES = {
    "train": "train", "training": "train", "train_set": "train", "trainset": "train", "trainval": "train",
    "test": "test", "testing": "test", "test_set": "test", "testset": "test", "test_a": "test",
    "test_b": "test", "test_syn": "test", "val": "val", "valid": "val", "validation": "val",
}


def normalise_split(value: str) -> str:
    key = value.lower()
    return SPLIT_ALIASES.get(key, key)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Labels(Strict):
    """Per-sample labels; None means the dataset mixes values and later stages decide per image."""

    time_of_day: TimeOfDay | None = None
    rain_type: RainType | None = None
    is_real: bool | None = None


class ListFormat(Strict):
    """How to read a pair-list file.

    `fields` maps `rainy`, `clean` and optionally `split` to a column: a 0-based position for plain
    text lines split on `separator` (None = any whitespace), or a column name when `header` is true
    (comma-separated with a header row). `filter` keeps only rows whose named column is in the list.
    `keep` maps a column (index or name, as in `fields`) to a regular expression the cell must fully
    match, case-insensitively, for the row to be kept (`{1: '(?:.*/)?10rain/.*'}`); rows failing it are
    skipped silently, like rows `filter` drops.
    Entry paths are relative to the list file's folder, a leading `/` included; `roots` lists folders
    relative to it to try instead, in order (`''` = the list's own folder): an entry is resolved under
    the first root where its rainy file exists, else reported against the first root.
    """

    fields: dict[Literal["rainy", "clean", "split"], int | str]
    separator: str | None = None
    header: bool = False
    filter: dict[str, list[str]] = Field(default_factory=dict)
    keep: dict[int | str, str] = Field(default_factory=dict)
    roots: list[str] = Field(default_factory=lambda: [""], min_length=1)

    @model_validator(mode="after")
    def _fields_fit_format(self) -> "ListFormat":
        if "rainy" not in self.fields:
            raise ValueError("a list format needs a `rainy` field")
        wanted = str if self.header else int
        for role, column in self.fields.items():
            if not isinstance(column, wanted):
                raise ValueError(f"field {role!r}: use a column {'name' if self.header else 'index'} "
                                 f"when header is {self.header}")
        if self.filter and not self.header:
            raise ValueError("`filter` needs named columns (header: true)")
        for column, pattern in self.keep.items():
            if not isinstance(column, wanted):
                raise ValueError(f"keep {column!r}: use a column {'name' if self.header else 'index'} "
                                 f"when header is {self.header}")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"keep {column!r} is not a valid regular expression: {exc}") from exc
        return self

    def kept(self, cell: Callable[[int | str], str | None]) -> bool:
        """Whether a row passes `keep`; `cell(column)` gives a cell's text or None."""
        return all(re.fullmatch(pattern, (cell(column) or "").strip(), re.IGNORECASE)
                   for column, pattern in self.keep.items())


class Rule(Strict):
    name: str
    kind: Kind
    match: str
    clean: list[str] = Field(default_factory=list)
    order: Literal["left_rainy", "left_clean"] | None = None
    pair_list: ListFormat | None = None
    split: str | None = None
    test_ranges: list[tuple[int, int]] = Field(default_factory=list)
    labels: Labels = Labels()

    @field_validator("match")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"match is not a valid regular expression: {exc}") from exc
        return pattern

    @model_validator(mode="after")
    def _kind_fields(self) -> "Rule":
        needs = {"one_to_one": "clean", "many_to_one": "clean", "side_by_side": "order", "list_file": "pair_list"}
        field = needs.get(self.kind)
        if field and not getattr(self, field):
            raise ValueError(f"rule {self.name!r} of kind {self.kind} needs `{field}`")
        if self.test_ranges and "(?P<id>" not in self.match:
            raise ValueError(f"rule {self.name!r}: test_ranges needs a regex group named `id`")
        return self

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.match, re.IGNORECASE)


class Dataset(Strict):
    """One dataset: its Table-1 metadata and its layout rules."""

    name: str
    aliases: list[str] = Field(default_factory=list)
    published_train: int | None = None
    published_test: int | None = None
    origin: Origin
    time_of_day: TimeOfDay | None
    rain_type: RainType | None
    venue: str = ""
    paired: bool = True
    evidence: str = ""  # how the layout was verified: V-off, V-3p, V-rehost, I (see reference docs)
    notes: str = ""
    rules: list[Rule]

    @field_validator("name")
    @classmethod
    def _name_is_a_key(cls, name: str) -> str:
        if not DATASET_NAME.match(name):
            raise ValueError(f"dataset name {name!r}: use letters, digits and . _ + - only")
        return name

    @property
    def labels(self) -> Labels:
        is_real = {"syn": False, "real": True}.get(self.origin)
        return Labels(time_of_day=self.time_of_day, rain_type=self.rain_type, is_real=is_real)
