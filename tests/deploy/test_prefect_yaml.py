"""prefect.yaml's distill/rainrag: on the process pool, with parameters the flow accepts."""
from __future__ import annotations

import yaml

from flows.distill import distill
from tools.server import PROCESS_POOL, ROOT, deployment_pools

ISSUE_PARAMETERS = {"data_root", "store", "profile", "k1", "k2", "k3", "pool_threshold", "min_yes",
                    "test_per_subset", "retry_judge_errors"}


def deployment_list() -> list[dict]:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


def deployments() -> dict[str, dict]:
    return {f"{d['entrypoint']}|{d['name']}": d for d in deployment_list()}


def test_distill_rainrag_runs_the_whole_dag_on_the_process_pool_with_every_setting_exposed():
    deployment = deployments()["flows/distill.py:distill|rainrag"]
    assert deployment["work_pool"]["name"] == PROCESS_POOL
    assert ISSUE_PARAMETERS <= set(deployment["parameters"])
    bound = distill.validate_parameters(deployment["parameters"])   # raises on a name the flow does not take
    assert bound["min_yes"] == 2 and bound["retry_judge_errors"] is False


def test_deployment_names_are_unique_per_flow_and_every_pool_is_one_make_server_creates():
    names = [(d["entrypoint"], d["name"]) for d in deployment_list()]   # a second entry would overwrite the first
    assert len(names) == len(set(names))
    pools = {d["work_pool"]["name"] for d in deployments().values()}
    assert pools == set(deployment_pools()) and PROCESS_POOL in pools
