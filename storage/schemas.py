"""The data contract of each table written by ingest (later stages add theirs here)."""
from __future__ import annotations

import pyarrow as pa

# One row per rainy input. Paths are POSIX, relative to the data root; `*_path_raw` holds the exact
# bytes only for names that are not valid UTF-8 (else null). Side-by-side files have
# clean_path == rainy_path and width = the width of one half.
SAMPLES = pa.schema([
    ("sample_id", pa.string()),
    ("dataset", pa.string()),
    ("split", pa.string()),
    ("pairing", pa.string()),          # one_to_one | many_to_one | side_by_side | list_file | unpaired
    ("pairing_rule", pa.string()),     # <dataset>/<rule name> of the layout declaration
    ("rainy_path", pa.string()),
    ("rainy_path_raw", pa.binary()),
    ("clean_path", pa.string()),
    ("clean_path_raw", pa.binary()),
    ("side_by_side", pa.string()),     # null | left_rainy | left_clean
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("format", pa.string()),           # Pillow format of the rainy file: PNG, JPEG, ...
    ("rainy_mode", pa.string()),       # original Pillow mode (RGB, L, I;16, RGBA, CMYK, ...)
    ("clean_mode", pa.string()),
    ("rainy_hash", pa.string()),       # BLAKE2b-128 of the file bytes
    ("clean_hash", pa.string()),
    ("rainy_bytes", pa.int64()),
    ("clean_bytes", pa.int64()),
    ("time_of_day", pa.string()),      # day | night | null (dataset mixes both; decided later)
    ("rain_type", pa.string()),        # streak | drop | streak+drop | null
    ("is_real", pa.bool_()),
])

# One row per candidate that could not become a sample, with the reason.
REJECTS = pa.schema([
    ("sample_id", pa.string()),
    ("dataset", pa.string()),
    ("split", pa.string()),
    ("pairing_rule", pa.string()),
    ("path", pa.string()),             # the file at fault (or the rainy file when the pair is at fault)
    ("partner_path", pa.string()),
    ("reason", pa.string()),
])

# Discovery's output, staged per shard before ingest reads the files.
CANDIDATES = pa.schema([
    ("sample_id", pa.string()),
    ("dataset", pa.string()),
    ("split", pa.string()),
    ("pairing", pa.string()),
    ("pairing_rule", pa.string()),
    ("rainy_path", pa.string()),
    ("rainy_path_raw", pa.binary()),
    ("clean_path", pa.string()),
    ("clean_path_raw", pa.binary()),
    ("side_by_side", pa.string()),
    ("time_of_day", pa.string()),
    ("rain_type", pa.string()),
    ("is_real", pa.bool_()),
    ("problem", pa.string()),
    ("shard_hash", pa.int64()),
])

# One row per sample: NR-IQA scores (higher is better) of its rainy image and of its clean image.
# Real rainy images scoring at least the pool threshold form the reference pool; `review` holds the
# manual selection the paper adds on top (pending until someone accepts or rejects the image).
QUALITY = pa.schema([
    ("sample_id", pa.string()),
    ("dataset", pa.string()),
    ("is_real", pa.bool_()),
    ("rainy_quality", pa.float32()),
    ("clean_quality", pa.float32()),   # null for unpaired samples
    ("in_pool", pa.bool_()),
    ("review", pa.string()),           # pending | accepted | rejected for pool members, else null
    ("status", pa.string()),           # ok | error
    ("error", pa.string()),
])

# One row per sample: the whole caption chain of its rainy image, every step kept.
CAPTIONS = pa.schema([
    ("sample_id", pa.string()),
    ("caption", pa.string()),
    ("expansion", pa.string()),
    ("keywords", pa.list_(pa.string())),
    ("status", pa.string()),
    ("error", pa.string()),
])


def embeddings_schema(text_dim: int, keyword_dim: int, image_dim: int) -> pa.Schema:
    """Vectors as fixed-size float16 lists: half the disk of float32, and retrieval re-normalises."""
    return pa.schema([
        ("sample_id", pa.string()),
        ("text_vec", pa.list_(pa.float16(), text_dim)),        # the expanded caption (description)
        ("keyword_vec", pa.list_(pa.float16(), keyword_dim)),  # the keywords joined by ", "
        ("image_vec", pa.list_(pa.float16(), image_dim)),      # the rainy image
        ("status", pa.string()),
        ("error", pa.string()),
    ])

# One row per (query, reference) that reached the visual level: the K2 survivors of each query with
# every score they earned, ranked by SSIM; the K3 best are `selected` for the judges. A query whose
# image cannot be read is one error row without a reference.
RETRIEVALS = pa.schema([
    ("query_id", pa.string()),
    ("reference_id", pa.string()),
    ("s_txt", pa.float32()),           # L2 distance of the description vectors (smaller is closer)
    ("s_vis", pa.float32()),           # cosine of the image vectors
    ("s_ssim", pa.float32()),          # SSIM of the grayscale images at a common size
    ("rank", pa.int16()),              # 1 = most similar structure among the query's K2 survivors
    ("selected", pa.bool_()),          # rank <= K3: the retrieved set S(q)
    ("status", pa.string()),
    ("error", pa.string()),
])
