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
