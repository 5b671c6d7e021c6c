"""The pipeline definition: every stage config fingerprints what changes its output and nothing else,
DistillConfig reaches the CLI, the flow, the deployment and the manifest's provenance, and the README's
DAG is the DAG."""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from pathlib import Path

import pytest
import yaml

from flows.distill import distill, main as distill_main
from models.pipeline.profiles import load_profile
from storage.stage import GLOBAL_SHARD, HANDLE, OUTPUT, SPEED, field_kinds, fingerprinted
from storage.store import Store
from tasks.command_line import add_model_arguments, model_from_arguments
from tasks.dag import DISTILL, ingest
from tasks.distill_config import DistillConfig
from tasks.manifest import ManifestConfig
from tasks.run_context import RunContext

ROOT = Path(__file__).resolve().parents[2]
# what a deployment is there to choose: where the data and store are, and the paper's models
DEPLOYMENT_CHOICES = {"data_root", "store", "profile"}


def changed(value):
    """Another value of the same kind, for every kind a stage config's output field holds."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, tuple):
        return value + (0,)
    if isinstance(value, dict):
        return {**value, "another": 1}
    if dataclasses.is_dataclass(value):
        first = dataclasses.fields(value)[0]
        return dataclasses.replace(value, **{first.name: changed(getattr(value, first.name))})
    raise TypeError(f"no changed value for {value!r}")


def configs(tmp_path) -> dict[str, object]:
    """Every stage's config, built as a run builds it (an empty store: an empty pool)."""
    profile = load_profile("offline", models_dir=tmp_path / "models")
    run = RunContext.of(Store(tmp_path / "store"), tmp_path / "data", profile)
    built = {spec.name: spec.config.from_run(run) for spec in DISTILL[1:]}
    return {"ingest": ingest.IngestStageConfig(100, tmp_path / "data", tmp_path / "staging"), **built}


def test_every_output_field_changes_the_fingerprint_and_speed_and_handles_do_not(tmp_path):
    seen = set()
    for name, config in configs(tmp_path).items():
        kinds = field_kinds(config)
        base = fingerprinted(config)
        assert any(kind == OUTPUT for kind in kinds.values()), f"{name}: a config with nothing fingerprinted"
        for field, kind in kinds.items():
            if kind == OUTPUT:
                other = dataclasses.replace(config, **{field: changed(getattr(config, field))})
                assert fingerprinted(other) != base, f"{name}.{field} changes the output but not the fingerprint"
            else:
                other = dataclasses.replace(config, **{field: object()})   # anything at all
                assert fingerprinted(other) == base, f"{name}.{field} is {kind} but changes the fingerprint"
            seen.add(kind)
        # batch sizes are declared speed: a faster setting never re-runs a shard
        assert all(kinds[f] == SPEED for f in kinds if "batch" in f), name
    assert seen == {OUTPUT, SPEED, HANDLE}


def test_the_dag_is_one_list_that_every_stage_reads_from(tmp_path):
    names = [spec.name for spec in DISTILL]
    assert names == ["ingest", "quality", "caption", "embed", "inspect", "dedup", "retrieve", "judge", "manifest",
                     "audit"]
    written = {"candidates"}
    for spec in DISTILL:
        assert set(spec.inputs) <= written, f"{spec.name} reads a table no earlier stage writes"
        written |= set(spec.outputs)
    run = RunContext.of(Store(tmp_path / "store"), tmp_path, load_profile("offline", models_dir=tmp_path))
    for spec in DISTILL[1:]:
        stage = spec.build(run)
        assert (stage.name, stage.inputs, stage.outputs) == (spec.name, spec.inputs, spec.outputs)
        assert stage.resources.gpus == 0, "offline models want no GPU"
        assert spec.shards(run) == ([GLOBAL_SHARD] if spec.scope == "global" else [])
    paper = load_profile("paper", models_dir=tmp_path)
    gpus = {spec.name: spec.stage(None, paper).resources.gpus for spec in DISTILL[1:]}
    assert gpus == {"quality": 0, "caption": 1, "embed": 1, "retrieve": 0, "judge": 1, "inspect": 0,
                    "dedup": 0, "manifest": 0, "audit": 0}


def test_distill_config_reaches_the_cli_the_flow_and_the_deployment():
    fields = DistillConfig.model_fields
    parser = argparse.ArgumentParser()
    add_model_arguments(parser, DistillConfig)
    assert {a.dest for a in parser._actions} - {"help"} == set(fields)
    assert list(inspect.signature(distill.fn).parameters) == list(fields)
    deployment = next(d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
                      if d["entrypoint"] == "flows/distill.py:distill")
    parameters = deployment["parameters"]
    assert set(parameters) <= set(fields), f"not DistillConfig fields: {set(parameters) - set(fields)}"
    defaults = DistillConfig(data_root="d", store="s")
    for name, value in parameters.items():
        if name not in DEPLOYMENT_CHOICES:
            assert value == getattr(defaults, name), f"prefect.yaml sets {name}={value!r}, DistillConfig's " \
                                                     f"default is {getattr(defaults, name)!r}"
    assert distill.validate_parameters(parameters)["min_yes"] == defaults.min_yes


def test_a_new_setting_reaches_cli_and_provenance_without_being_written_elsewhere():
    class WithSharpness(DistillConfig):
        sharpness: float = 0.5

    parser = argparse.ArgumentParser()
    add_model_arguments(parser, WithSharpness)
    settings = model_from_arguments(WithSharpness, parser.parse_args(["--data-root", "d", "--store", "s",
                                                                      "--sharpness", "0.7"]))
    assert settings.sharpness == 0.7 and settings.provenance()["sharpness"] == 0.7
    assert "data_root" not in settings.provenance() and "shard_size" not in settings.provenance()
    default = model_from_arguments(WithSharpness, parser.parse_args(["--data-root", "d", "--store", "s"]))
    assert default.sharpness == 0.5
    # the manifest's config id follows it
    def config_id(s):
        return ManifestConfig(s.min_yes, s.test_per_subset, upstream={"settings": s.provenance()}).config_id
    assert config_id(settings) != config_id(default)


@pytest.mark.parametrize("argv, message", [
    (["--min-yes", "4"], "error: --min-yes 4: min_yes=4: it must be between 1 and the number of judges (3)"),
    (["--test-per-subset", "-1"], "error: --test-per-subset -1: Input should be greater than or equal to 0"),
])
def test_a_bad_setting_is_one_line_naming_the_option(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        distill_main(["--data-root", str(tmp_path), "--store", str(tmp_path / "store"), *argv])
    assert exit_.value.code == 2 and capsys.readouterr().err.strip() == message


def test_the_readme_and_help_show_the_dag(capsys):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The DAG", 1)[1].split("\n## ", 1)[0]
    assert " ─► ".join(spec.name for spec in DISTILL) in section
    rows = [line for line in section.splitlines() if re.match(r"^\| [a-z]+ \|", line)][1:]   # header first
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert [c[0] for c in cells] == [spec.name for spec in DISTILL]
    for spec, row in zip(DISTILL, cells):
        assert re.findall(r"`([a-z_]+)`", row[1]) == list(spec.inputs), spec.name
        assert re.findall(r"`([a-z_]+)`", row[2].split("(+")[0]) == list(spec.outputs), spec.name
    with pytest.raises(SystemExit):
        distill_main(["--help"])
    shown = capsys.readouterr().out
    assert all(f"  {spec.name} " in shown for spec in DISTILL)
