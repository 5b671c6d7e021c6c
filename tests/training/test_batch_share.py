"""The authors' batch-share loss scaling goes with their `released` reweighting, and has a flag."""
from __future__ import annotations

import pytest

from flows.train import build_config, parse_args
from training.config import TrainConfig


@pytest.mark.parametrize("method,scaled", [("paper", False), ("released", True), ("fixed", False)])
def test_the_batch_share_scaling_follows_the_reweighting_unless_set(method, scaled):
    assert TrainConfig.model_validate({"reweighting": {"method": method}}).batch_fraction_loss is scaled
    assert TrainConfig.model_validate({"reweighting": {"method": method},
                                       "batch_fraction_loss": not scaled}).batch_fraction_loss is (not scaled)
    assert TrainConfig().batch_fraction_loss is False   # the paper's ℓ = Σ ω_i ℓ_i by default


def test_flows_train_has_a_flag_for_it(tmp_path):
    def config(*flags: str) -> TrainConfig:
        args, _ = parse_args(["--data", str(tmp_path), "--out", str(tmp_path / "run"), *flags])
        return build_config(args)

    assert config("--reweighting", "released").batch_fraction_loss is True
    assert config("--reweighting", "released", "--no-batch-fraction-loss").batch_fraction_loss is False
    assert config("--batch-fraction-loss").batch_fraction_loss is True
    assert config().batch_fraction_loss is False
    # the resolved value is what a checkpoint stores: a config dumped and read back keeps it
    dumped = config("--reweighting", "released").model_dump(mode="json")
    assert dumped["batch_fraction_loss"] is True and TrainConfig.model_validate(dumped).batch_fraction_loss is True
