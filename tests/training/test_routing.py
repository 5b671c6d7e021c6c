"""A short training run keeps the hard-MoE routing spread over the experts (MoCE-IR's balance loss), and
the cost of the routing the trained model takes is measured next to the balanced figure."""
from __future__ import annotations

import math

import pytest
import torch

from evaluation.inference import load_checkpoint
from evaluation.routing import main as routing_main
from models.restoration.complexity import mean_routing_shares, routed, routing_range
from storage.images import load_rgb8
from tests.training.helpers import TINY_UNIRAIN, tiny_config
from training.loop import train

pytestmark = pytest.mark.slow
# three experts per layer and one run per image, so a layer can route, or collapse
ROUTING_UNIRAIN = {**TINY_UNIRAIN, "num_experts": [3, 3, 3, 3], "top_k": 1}
ENTROPY_FLOOR = 0.2   # of log(3); 120 steps here: 0.49-0.65 per layer with "moce", 0-0.17 with "sum"


def _entropy(share: torch.Tensor) -> float:
    """Entropy of a layer's routing shares, as a fraction of the uniform routing's."""
    p = share[share > 0] / share.sum()
    return float(-(p * p.log()).sum()) / math.log(len(share))


def test_a_short_run_keeps_the_routing_spread_and_reports_its_cost(layout, tmp_path, capsys):
    config = tiny_config(network_overrides=ROUTING_UNIRAIN, steps=120, val_every=30, ckpt_every=120, log_every=20)
    train(config, layout / "train", tmp_path / "run")
    [checkpoint] = (tmp_path / "run" / "checkpoints").glob("*.pt")
    net = load_checkpoint(checkpoint, torch.device("cpu")).net
    assert net.config.balance_aggregation == "moce"   # the default
    images = [torch.tensor(load_rgb8(p)).permute(2, 0, 1)[None].float() / 255   # (1, 3, H, W)
              for p in sorted((layout / "test").glob("*/input/*"))]
    assert len(images) >= 20
    shares = mean_routing_shares(net, images)
    entropies = {name: _entropy(share) for name, share in shares.items()}
    assert len(entropies) == 4 and min(entropies.values()) >= ENTROPY_FLOOR, entropies
    bounds, used = routing_range(net, (1, 3, 64, 64)), routed(net, shares, (1, 3, 64, 64))
    assert bounds["min"].macs < used.macs < bounds["max"].macs
    # the command a user runs for the same figures
    folder = next((layout / "test").glob("*/input"))
    routing_main(["--checkpoint", str(checkpoint), "--images", str(folder), "--size", "64"])
    printed = capsys.readouterr().out
    assert "balanced routing" in printed and "% of balanced)" in printed and printed.count("share of images") == 4
