"""Training data: pairs from a RainRAG manifest or the authors' folder layout, a validation split,
and a shuffled, augmented stream of crops that is a pure function of (seed, position).

Two sources, one `Pair` list:
- a manifest (Parquet) with at least MANIFEST_COLUMNS; paths relative to the data root; rows whose
  split is not "train" are never read, so test pairs cannot leak into training or validation;
- the authors' layout `<root>/{drs,drd,nrs,nrd}/{input,target}/<same name>` (label ids 0..3 [repo]).

The stream has no sampler state: sample i of the run is drawn from the epoch permutation and
augmentation generators seeded by (seed, i), so a resumed run, any number of loader workers and every
DDP rank see exactly the samples an uninterrupted single run would.
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import Dataset

from storage.fingerprint import fingerprint
from storage.images import halves, load_rgb8
from storage.paths import IMAGE_SUFFIXES, fs_rel
from storage.vocabulary import SUBSETS, subset_folder

# The manifest contract as training reads it; `side_by_side` (left_rainy | left_clean) is optional.
MANIFEST_COLUMNS = ("rainy_path", "clean_path", "subset", "split")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    rainy: str       # POSIX, relative to the data root
    clean: str
    label: int       # index into SUBSETS
    background: str  # identity of the clean image: its pairs never straddle train and validation
    side_by_side: str | None = None


@dataclass(frozen=True)
class TrainingData:
    root: Path
    train: list[Pair]
    val: list[Pair]
    fingerprint: str  # what the checkpoints were trained on; a resume on other data is refused

    @property
    def labels(self) -> list[int]:
        """The types present in training, in label order."""
        return sorted({p.label for p in self.train})


def read_manifest(path: Path) -> list[Pair]:
    """The split == "train" rows of a RainRAG manifest."""
    table = pq.read_table(path)
    missing = [c for c in MANIFEST_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"manifest {path} lacks columns {missing}; training needs {list(MANIFEST_COLUMNS)}")
    rows = table.to_pylist()
    unknown = sorted({r["subset"] for r in rows} - set(SUBSETS))
    if unknown:
        raise ValueError(f"manifest {path}: unknown subsets {unknown}; expected {list(SUBSETS)}")
    pairs = []
    for r in rows:
        if r["split"] == "train":  # paths as the filesystem names them (raw bytes of non-UTF-8 names)
            rainy = fs_rel(r["rainy_path"], r.get("rainy_path_raw"))
            clean = fs_rel(r["clean_path"], r.get("clean_path_raw"))
            pairs.append(Pair(rainy, clean, SUBSETS.index(r["subset"]), clean, r.get("side_by_side")))
    return pairs


def read_layout(root: Path) -> list[Pair]:
    """Pairs of the authors' layout. The background of a symlinked target is the file it resolves to, so
    the layout builder's links keep every rainy variant of one clean image together; that of a plain
    file is its own path."""
    pairs: list[Pair] = []
    for label, subset in enumerate(SUBSETS):
        folder = subset_folder(subset)
        names = sorted(p.name for p in (root / folder / "input").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        missing = {n for n in names if not (root / folder / "target" / n).exists()}
        if missing:
            log.warning("%s: %d inputs have no target of the same name (e.g. %s); skipped", root / folder,
                        len(missing), min(missing))
        pairs += [Pair(f"{folder}/input/{n}", f"{folder}/target/{n}", label, f"{folder}/target/{n}")
                  for n in names if n not in missing]
    if not pairs:
        raise FileNotFoundError(f"{root} holds no pairs in the layout {{drs,drd,nrs,nrd}}/{{input,target}}/<name>")
    return _resolve_backgrounds(root, pairs)


def _resolve_backgrounds(root: Path, pairs: list[Pair]) -> list[Pair]:
    """Symlinked backgrounds as paths relative to the deepest folder holding every link target (the data
    root), so the split depends neither on where the data is mounted nor on where the layout is."""
    real = {p.clean: os.path.realpath(root / p.clean) for p in pairs if (root / p.clean).is_symlink()}
    if not real:
        return pairs
    common = os.path.commonpath(list(real.values())) if len(real) > 1 else os.path.dirname(*real.values())
    return [Pair(p.rainy, p.clean, p.label, os.path.relpath(real[p.clean], common)) if p.clean in real else p
            for p in pairs]


def _rank(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8).digest()


def split_validation(pairs: list[Pair], fraction: float, max_per_type: int) -> tuple[list[Pair], list[Pair]]:
    """(train, val): per type, whole backgrounds in hash order are held out until about `fraction` of its
    pairs (at most `max_per_type`, at least one background) are; a type with a single background keeps
    it for training. A held-out background leaves training for every type."""
    by_label: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in pairs:
        by_label[p.label][p.background] += 1
    held: set[str] = set()
    for label, counts in sorted(by_label.items()):
        target = min(max_per_type, max(1, round(fraction * sum(counts.values()))))
        taken = 0
        for background in sorted(counts, key=_rank)[:-1]:  # the last one always stays in training
            if taken >= target:
                break
            held.add(background)
            taken += counts[background]
    return [p for p in pairs if p.background not in held], [p for p in pairs if p.background in held]


def prepare_data(data: Path, fraction: float, max_per_type: int, data_root: Path | None = None) -> TrainingData:
    """Pairs from a manifest file or a layout folder, split into train and validation, with a fingerprint."""
    data = Path(data).expanduser().resolve()
    if data.is_file():
        pairs, root = read_manifest(data), Path(data_root or data.parent).resolve()
    elif data.is_dir():
        pairs, root = read_layout(data), data
    else:
        raise FileNotFoundError(f"training data {data} is neither a manifest file nor a layout folder")
    train, val = split_validation(pairs, fraction, max_per_type)
    no_val = [SUBSETS[label] for label in sorted({p.label for p in train} - {p.label for p in val})]
    if no_val:
        raise ValueError(f"types {no_val} have a single clean background: nothing can be held out to validate "
                         "them; add data or drop them")
    sizes = [[(root / p.rainy).stat().st_size, (root / p.clean).stat().st_size] for p in pairs]
    digest = fingerprint({"pairs": [[p.rainy, p.clean, p.label, p.background, p.side_by_side] for p in pairs],
                          "sizes": sizes, "fraction": fraction, "max_per_type": max_per_type})
    return TrainingData(root, train, val, digest)


def load_pair(root: Path, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """(rainy, clean) HxWx3 uint8 of equal size."""
    rainy = load_rgb8(root / pair.rainy)
    if pair.side_by_side:
        return halves(rainy, pair.side_by_side)
    clean = load_rgb8(root / pair.clean)
    h, w = min(rainy.shape[0], clean.shape[0]), min(rainy.shape[1], clean.shape[1])
    return rainy[:h, :w], clean[:h, :w]


def pad_to(image: np.ndarray, size: int) -> np.ndarray:
    """Mirror-pad an image smaller than `size` on a side; a few public sets have sides under 128."""
    dh, dw = max(0, size - image.shape[0]), max(0, size - image.shape[1])
    return np.pad(image, ((0, dh), (0, dw), (0, 0)), mode="reflect") if dh or dw else image


def to_tensor(image: np.ndarray) -> torch.Tensor:
    # astype copies: decoded images are read-only arrays, which torch.from_numpy warns about.
    return torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0))  # (3, H, W)


def random_patch(rainy: np.ndarray, clean: np.ndarray, size: int, rng: np.random.Generator):
    """The same random crop and one of the 8 flips/rotations on both images."""
    rainy, clean = pad_to(rainy, size), pad_to(clean, size)
    top = int(rng.integers(rainy.shape[0] - size + 1))
    left = int(rng.integers(rainy.shape[1] - size + 1))
    turn, flip = (int(v) for v in rng.integers(0, [4, 2]))
    out = []
    for image in (rainy, clean):
        patch = np.rot90(image[top:top + size, left:left + size], turn)
        out.append(patch[:, ::-1] if flip else patch)
    return out[0], out[1]


def center_patch(rainy: np.ndarray, clean: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    rainy, clean = pad_to(rainy, size), pad_to(clean, size)
    top, left = (rainy.shape[0] - size) // 2, (rainy.shape[1] - size) // 2
    return rainy[top:top + size, left:left + size], clean[top:top + size, left:left + size]


class TrainStream(Dataset):
    """Item i = the i-th sample of the run: epoch i // n in a seeded permutation, augmented by a generator
    seeded with (seed, i). Infinite in principle; the batch sampler decides which positions are read."""

    def __init__(self, root: Path, pairs: list[Pair], crop: int, seed: int):
        self.root, self.pairs, self.crop, self.seed = root, pairs, crop, seed
        self._epoch, self._order = -1, np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.pairs)

    def _pair_at(self, position: int) -> Pair:
        epoch, offset = divmod(position, len(self.pairs))
        if epoch != self._epoch:
            self._epoch, self._order = epoch, np.random.default_rng([self.seed, 0, epoch]).permutation(len(self.pairs))
        return self.pairs[self._order[offset]]

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        pair = self._pair_at(position)
        rainy, clean = random_patch(*load_pair(self.root, pair), self.crop,
                                    np.random.default_rng([self.seed, 1, position]))
        return to_tensor(rainy), to_tensor(clean), pair.label


class StepBatches:
    """Batch sampler: the positions each step reads on this rank, from `start` to `steps` (exclusive).

    Step s reads positions [s·B, (s+1)·B) of the stream, rank r the r-th of `world` equal slices, so
    ranks never share a sample within a step — what a DistributedSampler gives, but resumable mid-epoch.
    """

    def __init__(self, start: int, steps: int, batch_size: int, rank: int = 0, world: int = 1):
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} is not divisible by the {world} processes")
        self.start, self.steps, self.per_rank = start, steps, batch_size // world
        self.offset = rank * self.per_rank
        self.batch_size = batch_size

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self):
        for step in range(self.start, self.steps):
            first = step * self.batch_size + self.offset
            yield list(range(first, first + self.per_rank))


class CenterCrops(Dataset):
    """Validation pairs as centre crops, with their label."""

    def __init__(self, root: Path, pairs: list[Pair], crop: int):
        self.root, self.pairs, self.crop = root, pairs, crop

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        rainy, clean = center_patch(*load_pair(self.root, self.pairs[index]), self.crop)
        return to_tensor(rainy), to_tensor(clean), self.pairs[index].label
