"""Soft and hard nested-expert MoE layers: routing weights, which experts run, the balance loss."""
from __future__ import annotations

import pytest
import torch

from models.restoration.moe import HardMoE, SoftMoE, balance_loss, cv_squared, nested_widths, routing_shares
from models.restoration.unirain import UniRain, UniRainConfig

LAYER = dict(dim=16, num_experts=4, expansion=2.0, bias=False, noise_std=1.0, complexity_weighted=True)


def test_expert_widths_halve_from_expert_to_expert():
    assert nested_widths(48, 4, 2.0) == [48, 24, 12, 6]
    assert [e.hidden for e in SoftMoE(**LAYER).experts] == nested_widths(16, 4, 2.0)


@pytest.mark.parametrize("training", [True, False])
def test_soft_moe_weights_sum_to_one_and_mix_every_expert(training):
    torch.manual_seed(0)
    moe = SoftMoE(**LAYER).train(training)
    x = torch.randn(3, 16, 8, 8)
    y = moe(x)
    w = moe.last_weights
    assert w.shape == (3, 4) and (w > 0).all()
    assert torch.allclose(w.sum(dim=-1), torch.ones(3))
    mixed = sum(w[:, i].view(-1, 1, 1, 1) * expert(x) for i, expert in enumerate(moe.experts))
    # float32 defaults (rtol 1.3e-6, atol 1e-5): the layer and the sum take different kernels and orders
    torch.testing.assert_close(y, mixed)


def _count_images_per_expert(moe: HardMoE) -> list[int]:
    seen = [0] * len(moe.experts)
    for i, expert in enumerate(moe.experts):
        expert.register_forward_hook(lambda _m, args, _out, i=i: seen.__setitem__(i, seen[i] + args[0].shape[0]))
    return seen


@pytest.mark.parametrize("top_k", [1, 2])
def test_hard_moe_runs_only_the_top_k_experts_of_each_image(top_k):
    torch.manual_seed(0)
    moe = HardMoE(**LAYER, top_k=top_k).eval()
    seen = _count_images_per_expert(moe)
    x = torch.randn(6, 16, 8, 8)
    y = moe(x)
    selected = moe.last_selected
    assert (selected.sum(dim=-1) == top_k).all()
    assert seen == selected.sum(dim=0).tolist() and sum(seen) == 6 * top_k
    # No renormalisation: the gates are the top-k softmax probabilities as they are.
    probs = moe.router(x.mean(dim=(2, 3))).softmax(dim=-1)
    assert torch.allclose(moe.last_weights, probs * selected)
    expected = torch.stack([sum(moe.last_weights[b, i] * moe.experts[i](x[b:b + 1])[0]
                                for i in selected[b].nonzero().flatten().tolist()) for b in range(6)])
    torch.testing.assert_close(y, expected)  # batched vs one image at a time: float32 defaults


def test_hard_moe_balance_loss_reaches_the_router_through_the_noisy_load():
    torch.manual_seed(0)
    moe = HardMoE(**LAYER, top_k=1).train()
    moe(torch.randn(8, 16, 8, 8))
    load = moe.balance_terms["load"]
    assert load.ndim == 0 and load > 0
    load.backward()
    assert moe.router.weight.grad.abs().sum() > 0


def test_complexity_weighting_favours_the_cheap_experts():
    """With cost weights, equal importance is unbalanced; importance ∝ 1/cost is balanced."""
    moe = SoftMoE(**LAYER)
    cost = moe.complexity
    assert cv_squared(torch.ones(4) * cost) > 0
    assert cv_squared((1 / cost) * cost) == pytest.approx(0.0, abs=1e-12)


def test_hard_moe_rejects_a_top_k_beyond_its_experts():
    with pytest.raises(ValueError, match="top_k"):
        HardMoE(**LAYER, top_k=5)


def test_balance_aggregations_follow_their_definitions():
    """`moce`: 0.01 × mean over hard layers of 0.5·importance (cost-weighted) + 0.5·load (plain);
    `sum`: 0.01 × Σ over every layer of importance + cost-weighted load."""
    torch.manual_seed(0)
    net = UniRain(UniRainConfig(dim=8, enc_blocks=(1, 1, 1, 1), dec_blocks=(1, 1, 1), refine_blocks=1)).train()
    net(torch.rand(4, 3, 32, 32))
    hard = [m for m in net.modules() if isinstance(m, HardMoE)]
    soft = [m for m in net.modules() if isinstance(m, SoftMoE)]
    assert len(hard) == 4 and len(soft) == 4
    moce = 0.01 * torch.stack([0.5 * m.balance_terms["importance"] + 0.5 * m.balance_terms["load"] for m in hard]).mean()
    summed = 0.01 * (sum(m.balance_terms["importance"] + m.balance_terms["load_weighted"] for m in hard)
                     + sum(m.balance_terms["importance"] for m in soft))
    torch.testing.assert_close(net.balance_loss(), moce)
    torch.testing.assert_close(balance_loss(net, 0.01, "sum"), summed)
    assert balance_loss(net, 0.01, "sum") > 4 * net.balance_loss()
    with pytest.raises(ValueError, match="balance aggregation"):
        balance_loss(net, 0.01, "max")
    shares = routing_shares(net)
    assert len(shares) == 4 and all(torch.allclose(s.sum(), torch.tensor(float(net.config.top_k))) for s in shares.values())
