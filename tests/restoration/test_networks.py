"""Every registered network, in a small config: shape, finiteness, gradients, eval determinism, size."""
from __future__ import annotations

import pytest
import torch

from models.restoration.registry import build, names
from tests.restoration.configs import SMALL


def test_every_registered_network_has_a_small_config():
    assert sorted(SMALL) == names() == ["prenet", "restormer", "unirain"]


@pytest.mark.parametrize("name", names())
def test_forward_keeps_shape_and_is_finite(name):
    torch.manual_seed(0)
    net = build(name, **SMALL[name])
    x = torch.rand(2, 3, 30, 26)  # not multiples of 8: padded inside and cropped back
    y = net(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    balance = net.balance_loss()
    assert balance.ndim == 0 and torch.isfinite(balance)


@pytest.mark.parametrize("name", names())
def test_every_parameter_gets_a_gradient_within_a_few_steps(name):
    """Hard-MoE experts run only when picked, so unused experts see no gradient in a step. Router noise
    σ = 10 makes routing close to uniform, so over up to 12 steps of 4 fresh images every expert of
    every layer is picked; the seed makes the run reproducible."""
    torch.manual_seed(0)
    overrides = dict(SMALL[name], noise_std=10.0) if name == "unirain" else SMALL[name]
    net = build(name, **overrides).train()
    missing = {n for n, _ in net.named_parameters()}
    for _ in range(12):
        x, target = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16)
        net.zero_grad(set_to_none=True)
        ((net(x) - target).abs().mean() + net.balance_loss()).backward()
        missing -= {n for n, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        if not missing:
            break
    assert not missing, f"no gradient reached {sorted(missing)}"


@pytest.mark.parametrize("name", names())
def test_eval_output_does_not_depend_on_the_torch_seed(name):
    torch.manual_seed(0)
    net = build(name, **SMALL[name]).eval()
    x = torch.rand(3, 3, 16, 16)
    outputs = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        with torch.no_grad():
            outputs.append(net(x))
    assert torch.equal(outputs[0], outputs[1])


def test_unirain_routing_is_noisy_in_training_only():
    torch.manual_seed(0)
    net = build("unirain", **SMALL["unirain"]).train()
    x = torch.rand(2, 3, 16, 16)
    torch.manual_seed(1)
    first = net(x)
    torch.manual_seed(2)
    assert not torch.equal(first, net(x))


def _millions(name: str) -> float:
    return sum(p.numel() for p in build(name).parameters()) / 1e6


def test_default_unirain_has_the_papers_parameter_count():
    assert _millions("unirain") == pytest.approx(24.4, rel=0.05)


def test_default_restormer_has_the_published_parameter_count():
    assert _millions("restormer") == pytest.approx(26.13, rel=0.01)


def test_default_prenet_has_the_original_parameter_count():
    assert sum(p.numel() for p in build("prenet").parameters()) == 168_963
