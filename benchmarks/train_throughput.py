"""Training throughput and peak memory of UniRain against Restormer, measured in one run on one device.

    python -m benchmarks.train_throughput [--steps 50] [--warmup 10] [--batch-size 8] [--crop 128]
                                          [--json benchmarks/out/train_throughput.json]

On a GPU: the default (paper-size) configs, the paper's protocol shape (batch 8, 128² crops), bf16
autocast, AdamW; one step = forward, L1 + MoE balance loss, backward, optimizer step. Reported per
network: parameters, training images/s and peak allocated GPU memory (torch.cuda.max_memory_allocated),
then UniRain/Restormer ratios — the numbers to compare, since both ran on the same device in the same
process. Without a GPU it falls back to a tiny run (toy widths, 64² crops, a few steps) that only
checks the harness; its numbers say nothing about the paper-size networks.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from models.restoration.registry import build

NETWORKS = ("unirain", "restormer")
# CPU fallback: the same structures at toy width, so the harness runs anywhere in seconds.
TINY = {"unirain": {"dim": 8, "enc_blocks": (1, 1, 1, 1), "dec_blocks": (1, 1, 1), "refine_blocks": 1},
        "restormer": {"dim": 8, "blocks": (1, 1, 1, 1), "refine_blocks": 1}}


def step(net: torch.nn.Module, optimizer: torch.optim.Optimizer, rainy: torch.Tensor, clean: torch.Tensor,
         autocast: bool) -> None:
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        restored = net(rainy)
        balance = net.balance_loss()
    loss = (restored.float() - clean).abs().mean() + balance.float()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def measure(name: str, device: torch.device, args: argparse.Namespace) -> dict:
    """Images/s over `steps` timed steps after `warmup` untimed ones, and the peak memory of all of them."""
    torch.manual_seed(0)
    cuda = device.type == "cuda"
    net = build(name, **({} if cuda else TINY[name])).to(device).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-4)
    rainy = torch.rand(args.batch_size, 3, args.crop, args.crop, device=device)
    clean = (rainy * 0.9).clamp(0, 1)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        step(net, optimizer, rainy, clean, cuda)
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step(net, optimizer, rainy, clean, cuda)
    if cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"network": name, "params_m": sum(p.numel() for p in net.parameters()) / 1e6,
            "images_per_s": args.batch_size * args.steps / seconds,
            "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None}


def table(results: list[dict], header: str) -> str:
    lines = [header, f"{'network':<10} {'params (M)':>10} {'images/s':>10} {'peak GiB':>9}"]
    for r in results:
        peak = f"{r['peak_gib']:>9.2f}" if r["peak_gib"] is not None else f"{'n/a':>9}"
        lines.append(f"{r['network']:<10} {r['params_m']:>10.2f} {r['images_per_s']:>10.1f} {peak}")
    ours, base = results[0], results[1]
    lines.append(f"UniRain/Restormer: throughput x{ours['images_per_s'] / base['images_per_s']:.2f}"
                 + (f", peak memory x{ours['peak_gib'] / base['peak_gib']:.2f}" if ours["peak_gib"] else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="timed steps (default 50 on GPU, 3 on CPU)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 10 on GPU, 1 on CPU)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, help="square input side (default 128 on GPU, 64 on CPU)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    args.steps = args.steps or (50 if cuda else 3)
    args.warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    args.crop = args.crop or (128 if cuda else 64)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    where = torch.cuda.get_device_name(device) if cuda else "CPU (tiny fallback configs, not paper size)"
    results = [measure(name, device, args) for name in NETWORKS]
    header = (f"{where}: batch {args.batch_size}, {args.crop}² crops, {'bf16 autocast, ' if cuda else ''}"
              f"{args.steps} timed steps after {args.warmup}")
    print(table(results, header))
    report = {"device": where, "batch_size": args.batch_size, "crop": args.crop, "steps": args.steps,
              "warmup": args.warmup, "bf16": cuda, "results": results}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
