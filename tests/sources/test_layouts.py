"""The built-in layouts of the 36 Table-1 datasets, checked on tiny trees in each documented layout.

Each case writes real images where `shared/reference/datasets.md` says a download puts them (with its
variants: odd case, nested extraction folders, .jpg vs .png) plus the non-sample files that sit next to
them, runs `locate` + `discover` and compares the exact set of (rainy, clean, split, pairing) candidates.
Paths are relative to the data root. No Prefect is involved.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from storage.sources.discover import DiscoveryStats, discover
from storage.sources.layout import ListFormat
from storage.sources.registry import LayoutError, load_registry, locate
from tests.sources import cases_1_19 as a, cases_20_36 as b
from tests.sources.cases import SBS, TABLE1, UNP, Case
from tests.trees import write_tree

CASES = [
    a._rain12(), a._rain100("Rain100L", "RainTrainL", "Rain100L"), a._rain100("Rain100H", "RainTrainH", "RAIN100H"),
    a._rain200l(), a._rain200h(), a._ddn(), a._did(), a._raindrop(), a._rain800(), a._spa(), a._mpid(), a._raincityscapes(), a._outdoor(),
    a._rain13k(), a._kitti2012(), a._kitti2015(), a._ivipc(), a._rainds(), a._raindirection(), b._real3000(), b._gtrain(),
    b._realrain1k(), b._synrain(), b._gtav(), b._vrds(), b._lwdds(), b._lhp(), b._uav(), b._roadscene(), b._raindropclarity(),
    b._hqnightrain(), b._weatherbench(), b._foundir(), b._gendeg(), b._cdd11(), b._urir(),
]




@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_every_table1_dataset_has_a_layout_case():
    assert sorted(case.dataset for case in CASES) == sorted(TABLE1)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.dataset)
def test_layout_pairs_exactly_the_documented_files(case: Case, tmp_path: Path, registry):
    write_tree(tmp_path, [*case.files, *case.traps], wide=case.wide, texts=case.texts)
    located, unrecognised = locate(tmp_path, registry)
    assert unrecognised == []
    assert [item.dataset.name for item in located] == [case.dataset]
    stats = DiscoveryStats()
    candidates = list(discover(located[0], tmp_path, stats))

    assert [(c["rainy_path"], c["problem"]) for c in candidates if c["problem"]] == []
    got = [(c["rainy_path"], c["clean_path"], c["split"], c["pairing"]) for c in candidates]
    assert len(got) == len(set(got)), "a file became two candidates"
    assert set(got) == case.expected
    rainy = {c["rainy_path"] for c in candidates}
    assert not rainy & set(case.traps), "a non-sample file became a candidate"
    assert all(c["dataset"] == case.dataset for c in candidates)
    by_rainy = {c["rainy_path"]: c for c in candidates}
    for path, (time_of_day, rain_type, is_real) in case.labels.items():
        row = by_rainy[path]
        assert (row["time_of_day"], row["rain_type"], row["is_real"]) == (time_of_day, rain_type, is_real), path
    for path, side in case.sides.items():
        assert by_rainy[path]["side_by_side"] == side
    assert all(c["side_by_side"] is None for c in candidates if c["pairing"] != SBS)


def test_every_table1_dataset_is_registered_with_its_published_counts(registry):
    assert set(registry) == set(TABLE1)
    for name, (train, test, paired) in TABLE1.items():
        dataset = registry[name]
        assert (dataset.published_train, dataset.published_test, dataset.paired) == (train, test, paired), name
        assert dataset.venue and dataset.evidence and dataset.rules, name
        assert dataset.evidence.split()[0] in {"V-off", "V-3p", "V-rehost", "I"}, name


def test_unverified_layouts_say_so(registry):
    guesses = {name for name, d in registry.items() if "documented best guess" in d.notes}
    for name, dataset in registry.items():
        if dataset.evidence.startswith("I "):
            assert name in guesses, f"{name}: evidence I but notes do not call the layout a best guess"
    assert {"MPID", "IVIPC-DQA", "URIR-8K", "GenDeg-Rain", "UAV-Rain1k", "LHP-Rain", "WeatherBench-Rain"} <= guesses


def test_unpaired_datasets_never_name_a_clean_file(registry):
    for name in ("Real3000", "IVIPC-DQA"):
        assert {rule.kind for rule in registry[name].rules} == {UNP}


def test_alias_folders_resolve_case_and_separator_insensitively(tmp_path: Path, registry):
    expected = {
        "rain1400": "DDN-Data", "RAIN12600": "DDN-Data", "Did_Mdn": "DID-Data", "Rain1200": "DID-Data",
        "gtrain": "GT-RAIN", "CDD11": "CDD-11-Rain", "cdd-11": "CDD-11-Rain", "foundir": "FoundIR-Rain",
        "GenDS": "GenDeg-Rain", "WEATHERBENCH": "WeatherBench-Rain", "HQNightRain": "HQ-NightRain",
        "RealRain-1k": "RealRain-1K", "k15": "RainKITTI2015", "RainTrainL": "Rain100L", "spa": "SPA-Data",
        "Rain_Cityscapes": "RainCityscapes", "uav_rain1k": "UAV-Rain1k",
    }
    for folder in [*expected, "my_holiday_photos"]:
        (tmp_path / folder).mkdir()
    (tmp_path / "Rain12.zip").write_bytes(b"a file, not a folder")
    located, unrecognised = locate(tmp_path, registry)
    assert unrecognised == ["my_holiday_photos"]
    found = {folder: item.dataset.name for item in located for folder in item.folders}
    assert found == expected
    ddn = next(item for item in located if item.dataset.name == "DDN-Data")
    assert ddn.folders == ("RAIN12600", "rain1400")


def test_alias_folders_of_one_dataset_are_all_discovered(tmp_path: Path, registry):
    write_tree(tmp_path, ["Rain12600/rainy_image/5_2.jpg", "Rain12600/ground_truth/5.jpg",
                          "rain1400/rainy_image/950_3.jpg", "rain1400/ground_truth/950.jpg"])
    (located,), _ = locate(tmp_path, registry, ["DDN-Data"])
    assert {(c["rainy_path"], c["split"]) for c in discover(located, tmp_path)} == {
        ("Rain12600/rainy_image/5_2.jpg", "train"), ("rain1400/rainy_image/950_3.jpg", "test")}


USER_DATASET = """
datasets:
  - name: MyRain
    aliases: [my-rain-set]
    published_train: 2
    origin: real
    time_of_day: night
    rain_type: drop
    evidence: "I (my own captures)"
    rules:
      - name: r-to-c
        kind: one_to_one
        match: '(?P<pre>(?:.*/)?)r/(?P<f>[^/]+\\.png)'
        clean: ['{pre}c/{f}']
"""

OVERRIDE_RAIN12 = """
datasets:
  - name: Rain12
    published_train: 0
    published_test: 24
    origin: syn
    time_of_day: day
    rain_type: streak
    evidence: "I (a corrected copy)"
    rules:
      - name: rain-to-clean
        kind: one_to_one
        match: '(?P<pre>(?:.*/)?)(?P<n>\\d+)_rain\\.png'
        clean: ['{pre}{n}_clean.png']
        split: test
"""


def test_a_user_layout_adds_a_dataset(tmp_path: Path):
    user = tmp_path / "mine.yaml"
    user.write_text(USER_DATASET, encoding="utf-8")
    registry = load_registry([user])
    assert len(registry) == len(TABLE1) + 1
    data = write_tree(tmp_path / "data", ["My_Rain_Set/x/r/1.png", "My_Rain_Set/x/c/1.png", "My_Rain_Set/x/notes.txt"])
    (located,), unrecognised = locate(data, registry, ["MyRain"])
    assert unrecognised == []
    rows = list(discover(located, data))
    assert [(r["rainy_path"], r["clean_path"], r["split"], r["time_of_day"], r["rain_type"], r["is_real"])
            for r in rows] == [("My_Rain_Set/x/r/1.png", "My_Rain_Set/x/c/1.png", "train", "night", "drop", True)]


def test_a_user_layout_overrides_a_builtin(tmp_path: Path):
    user = tmp_path / "fix.yaml"
    user.write_text(OVERRIDE_RAIN12, encoding="utf-8")
    registry = load_registry([user])
    assert len(registry) == len(TABLE1)
    assert registry["Rain12"].published_test == 24
    assert registry["Rain12"].aliases == []  # the override replaces the built-in as a whole
    data = write_tree(tmp_path / "data", ["Rain12/1_rain.png", "Rain12/1_clean.png", "Rain12/2_in.png", "Rain12/2_GT.png"])
    (located,), _ = locate(data, registry)
    assert {(r["rainy_path"], r["clean_path"]) for r in discover(located, data)} == {
        ("Rain12/1_rain.png", "Rain12/1_clean.png")}


@pytest.mark.parametrize("text, words", [
    ("datasets:\n  - name: [unclosed\n", ["cannot read it"]),
    ("just: a mapping\n", ["datasets"]),
    ("datasets:\n  - name: Bad\n    origin: syn\n    time_of_day: day\n    rain_type: streak\n    rules:\n"
     "      - {name: r, kind: one_to_one, match: '(unclosed', clean: ['{file}']}\n", ["Bad", "regular expression"]),
    ("datasets:\n  - name: Bad\n    origin: syn\n    time_of_day: dusk\n    rain_type: streak\n    rules: []\n",
     ["Bad", "time_of_day"]),
    ("datasets:\n  - name: Bad\n    origin: syn\n    time_of_day: day\n    rain_type: streak\n    rules:\n"
     "      - {name: r, kind: list_file, match: 'x\\.txt', pair_list: {fields: {rainy: 0}, keep: {col: '.*'}}}\n",
     ["Bad", "keep"]),
], ids=["yaml-syntax", "no-datasets-list", "bad-regex", "bad-label", "keep-needs-index"])
def test_a_malformed_layout_file_is_a_layout_error_naming_the_file(tmp_path: Path, text: str, words: list[str]):
    broken = tmp_path / "broken.yaml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(LayoutError) as error:
        load_registry([broken])
    assert str(broken) in str(error.value)
    for word in words:
        assert word in str(error.value)


def test_a_user_alias_that_collides_with_a_builtin_is_refused(tmp_path: Path):
    user = tmp_path / "clash.yaml"
    user.write_text(USER_DATASET.replace("[my-rain-set]", "[Rain_1400]"), encoding="utf-8")
    with pytest.raises(LayoutError, match="DDN-Data"):
        load_registry([user])


def test_list_format_keep_is_validated():
    assert ListFormat(fields={"rainy": 1, "clean": 0}, keep={1: ".*rain.*"}).kept(lambda i: "10Rain/LQ/1.png")
    assert not ListFormat(fields={"rainy": 1}, keep={1: ".*rain.*"}).kept(lambda i: "01Blur/LQ/1.png")
    with pytest.raises(ValidationError, match="regular expression"):
        ListFormat(fields={"rainy": 0}, keep={0: "(unclosed"})
    with pytest.raises(ValidationError, match="column name"):
        ListFormat(fields={"rainy": "a"}, header=True, keep={0: ".*"})


def test_list_roots_report_a_missing_entry_against_the_first_root(tmp_path: Path, registry):
    texts = {"FoundIR/MillionIRData_train_meta_info.txt": "Rain/GT/z.png, Rain/LQ/z.png\n"}
    write_tree(tmp_path, [], texts=texts)
    (located,), _ = locate(tmp_path, registry)
    (row,) = discover(located, tmp_path)
    assert row["rainy_path"] == "FoundIR/Rain/LQ/z.png"
    assert "does not exist" in row["problem"]
