"""Writers that lay sample images out exactly as 10 public rain datasets ship them on disk.

The ingest stage has to recognise each dataset by its folder and file names and pair rainy with
clean images by that dataset's own rule (see `shared/reference/datasets.md`): flat folders with
look-alike non-sample files, many rainy files per clean one, side-by-side pairs in opposite half
orders, list-file pairing, unpaired real images, night scenes. Each writer reproduces one such layout
at toy size so those rules can be tested and demonstrated without downloading anything.

A writer takes (dataset root, rng, scale), writes its files and returns how many *rainy sample* files
it wrote; clean images, masks, streak layers and `Blur/` frames are not counted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from corpus.defects import note_pair
from corpus.photos import random_scene, scene_frames
from corpus.rain import StreakParams, add_drops, add_streak_params, blur, composite_streaks, render_streaks, to_night

Writer = Callable[[Path, np.random.Generator, int], int]
LAYOUTS: dict[str, Writer] = {}

# Fixed encoder settings keep the bytes identical from run to run (Pillow writes no timestamps).
JPEG_QUALITY = 92
LEVEL_NAMES = ("light", "medium", "heavy")


def layout(name: str) -> Callable[[Writer], Writer]:
    """Register a writer under the dataset's top-level folder name."""

    def register(fn: Writer) -> Writer:
        if name in LAYOUTS:
            raise ValueError(f"layout {name!r} registered twice")
        LAYOUTS[name] = fn
        return fn

    return register


def save(path: Path, img: np.ndarray) -> None:
    """Write a [0, 1] float image (H, W, 3) or mask (H, W) as 8-bit PNG or JPEG, by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.clip(np.rint(np.asarray(img) * 255.0), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, format="JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False)
    else:
        image.save(path, format="PNG", compress_level=1)


def streaks(
    img: np.ndarray, rng: np.random.Generator, level: str, angle: float | None = None, lit: bool = False
) -> np.ndarray:
    """Rainy version of `img` with streaks drawn at a density `level`."""
    return add_streak_params(img, rng, StreakParams.sample(rng, level, angle), lit)


def _even(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(rng.integers(lo // 2, hi // 2 + 1)) * 2


@layout("Rain100L")
def rain100l(root: Path, rng: np.random.Generator, scale: int) -> int:
    """Original JORDER Rain100L: flat RainTrainL/ with mask and streak layers; 3-digit test ids."""
    n_train, n_test = 12 * scale, 6 * scale
    for n in range(1, n_train + 1):
        clean = random_scene(rng)
        p = StreakParams.sample(rng, "light")
        layer = render_streaks(clean.shape[:2], rng, p.angle_deg, p.density, p.length, p.width)
        save(root / "RainTrainL" / f"rain-{n}.png", composite_streaks(clean, layer, p.intensity))
        save(root / "RainTrainL" / f"norain-{n}.png", clean)
        note_pair(root / "RainTrainL" / f"rain-{n}.png", root / "RainTrainL" / f"norain-{n}.png", "train")
        save(root / "RainTrainL" / f"rainstreak-{n}.png", layer * p.intensity)
        save(root / "RainTrainL" / f"rainregion-{n}.png", (layer > 0.1).astype(np.float32))
    for n in range(1, n_test + 1):
        clean = random_scene(rng)
        save(root / "Rain100L" / f"norain-{n:03d}.png", clean)
        save(root / "Rain100L" / "rainy" / f"rain-{n:03d}.png", streaks(clean, rng, "light"))
        note_pair(root / "Rain100L" / "rainy" / f"rain-{n:03d}.png", root / "Rain100L" / f"norain-{n:03d}.png", "test")
    return n_train + n_test


@layout("Rain200H")
def rain200h(root: Path, rng: np.random.Generator, scale: int) -> int:
    """JORDER updated heavy set: rainy files are named `norain-Nx2.png` under rain/X2/."""
    total = 0
    for split, n_items in (("rain_data_train_Heavy", 10 * scale), ("rain_data_test_Heavy", 5 * scale)):
        for n in range(1, n_items + 1):
            clean = random_scene(rng)
            save(root / split / "norain" / f"norain-{n}.png", clean)
            save(root / split / "rain" / "X2" / f"norain-{n}x2.png", streaks(clean, rng, "heavy"))
            note_pair(root / split / "rain" / "X2" / f"norain-{n}x2.png", root / split / "norain" / f"norain-{n}.png",
                      "train" if "train" in split else "test")
        total += n_items
    return total


@layout("DDN-Data")
def ddn(root: Path, rng: np.random.Generator, scale: int) -> int:
    """DDN (Rain12600/Rain1400): several `I_K.jpg` per `I.jpg`, K varying angle and density; test ids from 901."""
    variants = 3
    total = 0
    splits = (("training", range(1, min(4 * scale, 900) + 1)), ("testing", range(901, min(901 + 2 * scale, 1001))))
    for split, ids in splits:
        for i in ids:
            clean = random_scene(rng)
            save(root / split / "ground_truth" / f"{i}.jpg", clean)
            for k in range(1, variants + 1):
                angle = -30.0 + 60.0 * (k - 1) / (variants - 1) + float(rng.uniform(-5.0, 5.0))
                level = LEVEL_NAMES[(k - 1) % len(LEVEL_NAMES)]
                save(root / split / "rainy_image" / f"{i}_{k}.jpg", streaks(clean, rng, level, angle))
                note_pair(root / split / "rainy_image" / f"{i}_{k}.jpg", root / split / "ground_truth" / f"{i}.jpg",
                          "train" if split == "training" else "test", shared_clean=True)
                total += 1
    return total


@layout("DID-Data")
def did(root: Path, rng: np.random.Generator, scale: int) -> int:
    """DID-MDN: one JPEG per pair, LEFT half rainy, RIGHT half clean; density given by the folder."""
    half = (96, 96)
    n_items = 5 * scale
    for level, folder in (("heavy", "Rain_Heavy"), ("medium", "Rain_Medium"), ("light", "Rain_Light")):
        for n in range(n_items):
            clean = random_scene(rng, half)
            pair = np.concatenate([streaks(clean, rng, level), clean], axis=1)
            save(root / "DID-MDN-training" / folder / "train2018new" / f"{n}.jpg", pair)
            file = root / "DID-MDN-training" / folder / "train2018new" / f"{n}.jpg"
            note_pair(file, file, "train", halves="rainy_left")
    for n in range(n_items):
        clean = random_scene(rng, half)
        level = LEVEL_NAMES[int(rng.integers(len(LEVEL_NAMES)))]
        save(root / "DID-MDN-test" / f"{n}.jpg", np.concatenate([streaks(clean, rng, level), clean], axis=1))
        note_pair(root / "DID-MDN-test" / f"{n}.jpg", root / "DID-MDN-test" / f"{n}.jpg", "test", halves="rainy_left")
    return 4 * n_items


@layout("Rain800")
def rain800(root: Path, rng: np.random.Generator, scale: int) -> int:
    """ID-CGAN Rain800: one JPEG per pair, LEFT half CLEAN, RIGHT half rainy (opposite of DID)."""
    total = 0
    for split, n_items in (("training", 10 * scale), ("test_syn", 5 * scale)):
        for n in range(1, n_items + 1):
            clean = random_scene(rng, (_even(rng, 64, 128), _even(rng, 64, 96)))
            rainy = streaks(clean, rng, LEVEL_NAMES[int(rng.integers(len(LEVEL_NAMES)))])
            save(root / split / f"{n}.jpg", np.concatenate([clean, rainy], axis=1))
            note_pair(root / split / f"{n}.jpg", root / split / f"{n}.jpg", "train" if split == "training" else "test",
                      halves="clean_left")
        total += n_items
    return total


@layout("SPA-Data")
def spa(root: Path, rng: np.random.Generator, scale: int) -> int:
    """SPA: per video, frame patches share one GT patch; pairs listed in Training/real_world.txt."""
    train = root / "Training"
    patch, positions, n_frames = 96, ((0, 0), (96, 64)), 3
    lines = []
    for v in range(3 * scale):
        vid = f"{v:03d}"
        clean = random_scene(rng, (160, 192))
        angle = float(rng.uniform(-12.0, 12.0))  # one storm per video: the angle barely changes
        frames = [streaks(clean, rng, "light", angle + float(rng.uniform(-2.0, 2.0))) for _ in range(n_frames)]
        for x, y in positions:
            gt_rel = f"real_world_gt/{vid}/{vid}_{x}_{y}.png"
            save(train / gt_rel, clean[y : y + patch, x : x + patch])
            for f, frame in enumerate(frames, start=1):
                rel = f"real_world/{vid}/{vid}-{f}/{vid}-{f}_{x}_{y}.png"
                save(train / rel, frame[y : y + patch, x : x + patch])
                note_pair(train / rel, train / gt_rel, "train", shared_clean=True)
                lines.append(f"/{rel} /{gt_rel}")
    (train / "real_world.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    test = root / "Testing" / "real_test_1000"
    n_test = 6 * scale
    for n in range(n_test):
        clean = random_scene(rng, (128, 128))
        save(test / "gt" / f"{n:03d}gt.png", clean)
        save(test / "rain" / f"{n:03d}.png", streaks(clean, rng, "light", float(rng.uniform(-12.0, 12.0))))
        note_pair(test / "rain" / f"{n:03d}.png", test / "gt" / f"{n:03d}gt.png", "test")
    return len(lines) + n_test


@layout("RainDrop")
def raindrop(root: Path, rng: np.random.Generator, scale: int) -> int:
    """Qian et al. RainDrop: `N_rain.png` in data/ paired with `N_clean.png` in gt/, N from 0."""
    total = 0
    for split, n_items in (("train", 10 * scale), ("test_a", 5 * scale)):
        for n in range(n_items):
            h = _even(rng, 96, 128)
            clean = random_scene(rng, (h, h * 3 // 2))
            rainy = add_drops(clean, rng, int(rng.integers(12, 30)), (3.0, 10.0))
            save(root / split / "data" / f"{n}_rain.png", rainy)
            save(root / split / "gt" / f"{n}_clean.png", clean)
            note_pair(root / split / "data" / f"{n}_rain.png", root / split / "gt" / f"{n}_clean.png",
                      "train" if split == "train" else "test")
        total += n_items
    return total


@layout("GTAV-NightRain")
def gtav_nightrain(root: Path, rng: np.random.Generator, scale: int) -> int:
    """GTAV-NightRain set1: night scenes, several lit-rain `NNNN_KK.png` per `NNNN.png`."""
    total = 0
    for split, n_gt, per_gt in (("Train", 3 * scale, 4), ("Test", 2 * scale, 3)):
        for i in range(n_gt):
            clean = to_night(random_scene(rng, (108, 192)), rng)
            save(root / "set1" / split / "GT" / f"{i:04d}.png", clean)
            for kk in range(per_gt):
                rainy = streaks(clean, rng, ("medium", "heavy")[kk % 2], lit=True)
                save(root / "set1" / split / "Rainy" / f"{i:04d}_{kk:02d}.png", rainy)
                note_pair(root / "set1" / split / "Rainy" / f"{i:04d}_{kk:02d}.png", root / "set1" / split / "GT" /
                          f"{i:04d}.png", split.lower(), shared_clean=True)
                total += 1
    return total


def real3000_ids(scale: int) -> list[int]:
    """Ids on both sides of the 1705-2004 test range and on its edges, so the split rule is exercised."""
    edges = {1703, 1704, 1705, 1706, 2003, 2004, 2005, 2006, 3000}
    train_low = set(range(1, min(3 * scale, 1702) + 1))
    test_mid = set(range(1707, min(1707 + 2 * (scale - 1), 2003)))
    return sorted(edges | train_low | test_mid)


@layout("Real3000")
def real3000(root: Path, rng: np.random.Generator, scale: int) -> int:
    """Real3000: flat `real3000/N.png`, real rainy photos with no clean version at all."""
    ids = real3000_ids(scale)
    for i in ids:
        img = streaks(random_scene(rng), rng, LEVEL_NAMES[int(rng.integers(len(LEVEL_NAMES)))])
        if rng.random() < 0.3:  # real captures often have drops on the lens as well
            img = add_drops(img, rng, int(rng.integers(3, 10)), (2.0, 6.0), background_sigma=0.0)
        save(root / "real3000" / f"{i}.png", img)
    return len(ids)


def _clarity_frame(clean: np.ndarray, rng: np.random.Generator, drop_focused: bool) -> tuple[np.ndarray, np.ndarray]:
    """(Drop, Blur) for one frame: focus on the drops blurs the background, focus past them blurs the drops."""
    count, radii = int(rng.integers(12, 25)), (3.0, 10.0)
    if drop_focused:
        return add_drops(clean, rng, count, radii, background_sigma=2.0), blur(clean, 2.0)
    drops_only = add_drops(clean, rng, count, radii, background_sigma=0.0) - clean
    return np.clip(clean + blur(drops_only, 1.2), 0.0, 1.0), clean


@layout("RaindropClarity")
def raindrop_clarity(root: Path, rng: np.random.Generator, scale: int) -> int:
    """RaindropClarity: {Drop,Clear,Blur}/<5-digit seq>/<frame>.png; Blur == Clear unless drop-focused."""
    total = 0
    for name, night, n_seq in (("DayRainDrop_Train", False, 3 * scale), ("NightRainDrop_Train", True, 2 * scale)):
        for s in range(1, n_seq + 1):
            night_seed = int(rng.integers(2**32))  # one set of street lights for the whole sequence
            drop_focused = s % 2 == 1
            for f, frame in enumerate(scene_frames(rng, (96, 144), 3), start=1):
                clean = to_night(frame, np.random.default_rng(night_seed)) if night else frame
                drop, blurred = _clarity_frame(clean, rng, drop_focused)
                rel = Path(f"{s:05d}") / f"{f:05d}.png"
                save(root / name / "Drop" / rel, drop)
                save(root / name / "Clear" / rel, clean)
                save(root / name / "Blur" / rel, blurred)
                note_pair(root / name / "Drop" / rel, root / name / "Clear" / rel, "train")
                total += 1
    return total
