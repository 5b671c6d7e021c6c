"""Small configs of every registered network, fast enough to train a few steps on CPU."""
from __future__ import annotations

SMALL = {
    "unirain": dict(dim=8, enc_blocks=(1, 1, 1, 1), dec_blocks=(1, 1, 1), refine_blocks=1, heads=(1, 1, 2, 2),
                    num_experts=(3, 3, 2, 2), top_k=1),
    "restormer": dict(dim=8, blocks=(1, 1, 1, 1), refine_blocks=1, heads=(1, 1, 2, 2)),
    "prenet": dict(width=8, stages=2, res_blocks=1),
}
