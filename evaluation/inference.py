"""Restorers for a benchmark: a trained checkpoint (through the network registry) or the identity.

A checkpoint is what training writes (models.restoration.checkpoints): a file `ckpt-<step>.pt`, or a run folder
whose newest loadable checkpoint is taken. Its stored config names the network and its overrides, so
the network is rebuilt exactly as trained. The identity restorer returns the rainy input itself: the
"input" row of every table.

Inference is one image at a time in float32, reflect-padded to the network's multiple (8: three 2×
downsamplings) and cropped back. Images larger than `tile` on a side are restored in overlapping
tiles whose outputs are averaged where they overlap (as Restormer's and BasicSR's tiled test do);
UniRain's routers see one tile at a time then, so keep `tile` above the test images' size when memory
allows. The output is clamped to [0, 1] and rounded to 8 bits, the saved PNG is what gets scored.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.restoration.registry import build
from models.restoration import checkpoints

IDENTITY = "identity"
MULTIPLE = 8  # every registered U-shaped network halves the resolution three times


@dataclass
class Restorer:
    """What restores images, and the names its results are filed under."""

    label: str            # shown in the report: identity, or <run folder>@<step>
    model: str            # network name, or identity
    checkpoint: str       # the checkpoint file, or identity
    step: int | None
    fingerprint: str      # identity, or a hash of the checkpoint file's bytes
    net: nn.Module | None = None

    @property
    def is_identity(self) -> bool:
        return self.net is None


def identity() -> Restorer:
    return Restorer(IDENTITY, IDENTITY, IDENTITY, None, IDENTITY)


def _file_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_checkpoint(path: Path) -> dict:
    """The checkpoint dict of a file, or of the newest loadable file of a run folder."""
    if path.is_dir():
        state = checkpoints.load_latest(path)
        if state is None:
            raise FileNotFoundError(f"{path} holds no checkpoint ({checkpoints.checkpoint_dir(path)}/ckpt-*.pt); "
                                    "pass a run folder of `python -m flows.train` or a ckpt-*.pt file")
        return state
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        # weights_only=False: training checkpoints hold RNG states; load only checkpoints you trust.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ValueError(f"checkpoint {path} does not load: {exc.__class__.__name__}: {exc}") from exc
    return {**state, "path": str(path)} if isinstance(state, dict) else {"path": str(path)}


def load_checkpoint(path: str | Path, device: torch.device) -> Restorer:
    """The network of a training checkpoint, in eval mode on `device`."""
    state = _read_checkpoint(Path(path).expanduser().resolve())
    file = Path(state["path"])
    missing = [key for key in ("model", "config", "step") if key not in state]
    if missing or "network" not in state.get("config", {}):
        raise ValueError(f"{file} is not a rainrag training checkpoint (it lacks {missing or ['config.network']})")
    config = state["config"]
    net = build(config["network"], **config.get("network_overrides", {}))
    try:
        net.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise ValueError(f"{file}: its weights do not fit network {config['network']!r} with overrides "
                         f"{config.get('network_overrides', {})}: {exc}") from exc
    label = f"{file.parent.parent.name}@{state['step']}" if file.parent.name == "checkpoints" else file.stem
    return Restorer(label, config["network"], str(file), int(state["step"]), _file_hash(file), net.to(device).eval())


def _padded_forward(net: nn.Module, x: torch.Tensor, multiple: int) -> torch.Tensor:
    """net(x) for x (1, 3, H, W), reflect-padded to a multiple of `multiple` and cropped back."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"  # reflect needs the pad below the side
    padded = F.pad(x, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else x
    return net(padded)[..., :h, :w]  # (1, 3, H, W)


def _starts(size: int, tile: int, stride: int) -> list[int]:
    """Tile origins along one side: every `stride`, plus one flush with the end."""
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    return starts + [size - tile]


def _tiled_forward(net: nn.Module, x: torch.Tensor, tile: int, overlap: int, multiple: int) -> torch.Tensor:
    """net over overlapping tile×tile windows of x (1, 3, H, W), averaged where windows overlap."""
    h, w = x.shape[-2:]
    stride = tile - overlap
    out = torch.zeros_like(x)  # (1, 3, H, W) sum of tile outputs
    weight = torch.zeros_like(x[:, :1])  # (1, 1, H, W) windows covering each pixel
    for top in _starts(h, tile, stride):
        for left in _starts(w, tile, stride):
            window = x[..., top:top + tile, left:left + tile]
            out[..., top:top + tile, left:left + tile] += _padded_forward(net, window, multiple)
            weight[..., top:top + tile, left:left + tile] += 1.0
    return out / weight


@torch.no_grad()
def restore(restorer: Restorer, rgb8: np.ndarray, tile: int = 1024, overlap: int = 64,
            multiple: int = MULTIPLE) -> np.ndarray:
    """The restored (H, W, 3) uint8 RGB image of an (H, W, 3) uint8 RGB input."""
    if restorer.is_identity:
        return rgb8
    if tile % multiple or not 0 <= overlap < tile:
        raise ValueError(f"tile={tile} must be a multiple of {multiple} and overlap={overlap} in [0, tile)")
    device = next(restorer.net.parameters()).device
    x = torch.from_numpy(np.array(rgb8)).to(device).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)
    if max(x.shape[-2:]) <= tile:
        y = _padded_forward(restorer.net, x, multiple)
    else:
        y = _tiled_forward(restorer.net, x, tile, overlap, multiple)
    # (1, 3, H, W) in [0, 1] -> (H, W, 3) uint8, rounded as BasicSR's tensor2img does
    return (y.float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()
