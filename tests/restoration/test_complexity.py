"""Parameter and FLOP counting. The cost of these networks is proportional to H·W (convolutions, MDTA's
channel attention; only UniRain's routers, a few hundred MACs per image, are not), so the full-size
models are counted at 64² and scaled by 16 to 256²; the table at 256² itself comes from
`python -m models.restoration.complexity`."""
from __future__ import annotations

import pytest
from torch import nn

from models.restoration.complexity import count_flops, count_parameters, routing_range
from models.restoration.registry import build, names
from tests.restoration.configs import SMALL


def test_a_convolution_counts_one_mac_per_multiply_add():
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)
    size = count_flops(conv, (1, 3, 16, 16))
    assert size.macs == 16 * 16 * 8 * 3 * 9 and size.flops == 2 * size.macs
    assert count_parameters(conv) == 8 * 3 * 9


def test_routing_range_brackets_what_an_input_is_routed_to():
    net = build("unirain", **dict(SMALL["unirain"], num_experts=(3, 3, 3, 3), top_k=2))
    bounds = routing_range(net, (1, 3, 32, 32))
    assert bounds["min"].macs < bounds["balanced"].macs < bounds["max"].macs
    assert bounds["min"].macs <= count_flops(net, (1, 3, 32, 32)).macs <= bounds["max"].macs
    assert all(m.top_k == 2 for m in net.modules() if hasattr(m, "top_k"))


def test_networks_without_hard_moe_have_a_single_cost():
    net = build("restormer", **SMALL["restormer"])
    bounds = routing_range(net, (1, 3, 32, 32))
    assert bounds["min"] == bounds["balanced"] == bounds["max"] == count_flops(net, (1, 3, 32, 32))
    # MDTA's attention matmuls are in the FLOPs but not in the papers' MACs.
    assert bounds["balanced"].flops > 2 * bounds["balanced"].macs


@pytest.mark.parametrize("name", names())
def test_cost_is_proportional_to_the_pixel_count(name):
    net = build(name, **SMALL[name])
    small, large = (routing_range(net, (1, 3, side, side))["balanced"] for side in (16, 32))
    assert large.macs == pytest.approx(4 * small.macs, rel=1e-3)
    assert large.flops == pytest.approx(4 * small.flops, rel=1e-3)


@pytest.mark.parametrize("name, gmacs, tolerance", [("unirain", 126.5, 0.10), ("restormer", 140.99, 0.001)])
def test_default_network_has_the_published_cost_at_256(name, gmacs, tolerance):
    macs = routing_range(build(name), (1, 3, 64, 64))["balanced"].macs * 16
    assert macs / 1e9 == pytest.approx(gmacs, rel=tolerance)
