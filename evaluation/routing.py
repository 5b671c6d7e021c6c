"""What a trained UniRain routes real images to, and what that routing costs.

    python -m evaluation.routing --checkpoint CKPT --images DIR [--size 256]

prints, for the images of DIR, the share of them that runs each expert of every hard-MoE layer and the
network's GMACs at that routing next to the balanced-routing figure (the one the paper's 126.5 G is
quoted for; `models.restoration.complexity`). A model whose routing collapsed onto its narrow experts
costs less than the balanced figure and restores worse.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from evaluation.inference import load_checkpoint
from models.restoration.complexity import mean_routing_shares, routed, routing_range
from storage.images import load_rgb8
from storage.paths import IMAGE_SUFFIXES


def report_routed(checkpoint: str, folder: str, shape: tuple[int, ...]) -> None:
    """A trained model's cost at the routing it takes on the images of `folder`, next to the balanced one."""
    net = load_checkpoint(checkpoint, torch.device("cpu")).net
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    images = [torch.tensor(load_rgb8(p)).permute(2, 0, 1)[None].float() / 255 for p in paths]  # (1, 3, H, W)
    shares = mean_routing_shares(net, images)
    balanced, used = routing_range(net, shape)["balanced"], routed(net, shares, shape)
    print(f"{checkpoint} on {len(images)} images of {folder}, input {shape}:")
    print(f"  balanced routing  {balanced.macs / 1e9:8.3f} GMACs  {balanced.flops / 1e9:8.3f} GFLOPs")
    print(f"  routing used      {used.macs / 1e9:8.3f} GMACs  {used.flops / 1e9:8.3f} GFLOPs  "
          f"({used.macs / balanced.macs:.1%} of balanced)")
    for name, share in shares.items():
        print(f"  {name:<28} share of images running each expert: {', '.join(f'{v:.2f}' for v in share.tolist())}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evaluation.routing", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a training checkpoint (file or run folder)")
    parser.add_argument("--images", required=True, help="folder of images to route")
    parser.add_argument("--size", type=int, default=256, help="square input side the cost is counted at (default 256)")
    args = parser.parse_args(argv)
    if not Path(args.images).is_dir():
        parser.exit(2, f"error: {args.images} is not a folder of images\n")
    report_routed(args.checkpoint, args.images, (1, 3, args.size, args.size))


if __name__ == "__main__":
    main()
