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
    ("rainy_bits", pa.int8()),         # bits per channel in the file: 1, 8, 16 (a 48-bit RGB PNG: 16) or 32
    ("clean_bits", pa.int8()),
    ("rainy_hash", pa.string()),       # BLAKE2b-128 of the file bytes
    ("clean_hash", pa.string()),
    ("rainy_bytes", pa.int64()),
    ("clean_bytes", pa.int64()),
    ("time_of_day", pa.string()),      # day | night | null (dataset mixes both; decided later)
    ("rain_type", pa.string()),        # streak | drop | streak+drop | null
    ("is_real", pa.bool_()),
])

# One row per candidate that could not become a sample: a stable reason code to group by, and the
# message. Codes: empty_file, unreadable_file, not_an_image, corrupt_image, too_many_pixels (the file
# at `path`); size_mismatch, narrow_side_by_side, duplicate_entry (the pair); missing_partner,
# missing_listed_file, outside_dataset (discovery).
REJECTS = pa.schema([
    ("sample_id", pa.string()),
    ("dataset", pa.string()),
    ("split", pa.string()),
    ("pairing_rule", pa.string()),
    ("path", pa.string()),             # the file at fault (or the rainy file when the pair is at fault)
    ("partner_path", pa.string()),
    ("code", pa.string()),
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
    ("problem_code", pa.string()),
    ("shard_hash", pa.int64()),
])

# One row per sample: NR-IQA scores (higher is better) of its rainy image and of its clean image.
# Real rainy images scoring at least the pool threshold form the reference pool; the manual selection the
# paper adds on top is the `reviews` table (storage.reviews), read when the pool is built, so a decision
# never re-runs quality: `review` here stays pending.
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

# One row per (query, judge): the judge's answer on the query's pair and its K3 references. `model` is
# kind:model_id@revision of the role; `prompt_version`/`prompt_hash` name the template it was asked with.
# A failed call is answer = status = "error" with the reason, retried by `--retry-judge-errors`.
VOTES = pa.schema([
    ("sample_id", pa.string()),
    ("judge", pa.string()),            # judge_1 | judge_2 | judge_3 (the profile role)
    ("model", pa.string()),
    ("answer", pa.string()),           # yes | no | abstain | error
    ("raw", pa.string()),
    ("latency_s", pa.float32()),
    ("prompt_version", pa.string()),
    ("prompt_hash", pa.string()),
    ("status", pa.string()),           # ok | error
    ("error", pa.string()),
])

# One row per sample: what its images show, measured once — the evidence for the subset of samples
# whose dataset mixes day/night or rain types, and the audit's perceptual hashes and pair alignment.
INSPECTIONS = pa.schema([
    ("sample_id", pa.string()),
    ("median_luma", pa.float32()),     # of the rainy image, in [0, 1]
    ("streaks_per_10k", pa.float32()), # thin bright near-vertical lines per 10,000 px
    ("spots_per_10k", pa.float32()),   # small round bright spots (drop glints) per 10,000 px
    ("rainy_phash", pa.int64()),       # 64-bit DCT perceptual hash (bits as a signed integer)
    ("clean_phash", pa.int64()),       # null for unpaired samples
    ("alignment", pa.float32()),       # correlation of the pair's low frequencies; null when unpaired
    ("alignment_gain", pa.float32()),  # how much better the best small shift correlates (0 when aligned)
    ("rain_signature", pa.list_(pa.float16(), 256)),  # rain layer on a 16x16 grid, unit norm; null unpaired
    ("status", pa.string()),
    ("error", pa.string()),
])

# One row per pair that is a copy of another (tasks.curation.duplicates): the member of its group that
# stays, what kind of copy, and why; the judge stage skips these samples.
DUPLICATES = pa.schema([
    ("sample_id", pa.string()),
    ("shard", pa.string()),            # the sample's shard: what the judge stage reads per shard
    ("dataset", pa.string()),
    ("duplicate_of", pa.string()),     # the sample that stays
    ("duplicate_dataset", pa.string()),
    ("kind", pa.string()),             # exact | near
    ("of_public_test", pa.bool_()),    # the one that stays is a public test image: a leak, not a spare copy
    ("correlation", pa.float32()),     # of the rain signatures, for a direct near link; null otherwise
    ("group_size", pa.int32()),
    ("reason", pa.string()),
])

# RainRAG: one row per kept pair. Paths are relative to the data root (`*_path_raw`: the exact bytes of a
# name that is not valid UTF-8, as in `samples`); `subset_source` says whether the
# subset came from the dataset's labels or from the images; scores summarise the selected references.
MANIFEST = pa.schema([
    ("sample_id", pa.string()),
    ("dataset", pa.string()),
    ("subset", pa.string()),           # DRS | DRD | NRS | NRD
    ("subset_source", pa.string()),    # dataset | image
    ("split", pa.string()),            # train | test (RainRAG's own split)
    ("source_split", pa.string()),     # the split the public dataset put the sample in
    ("rainy_path", pa.string()),
    ("rainy_path_raw", pa.binary()),
    ("clean_path", pa.string()),
    ("clean_path_raw", pa.binary()),
    ("side_by_side", pa.string()),
    ("rainy_hash", pa.string()),
    ("clean_hash", pa.string()),
    ("pairing_rule", pa.string()),
    ("is_real", pa.bool_()),
    ("yes_votes", pa.int8()),
    ("no_votes", pa.int8()),
    ("abstain_votes", pa.int8()),
    ("error_votes", pa.int8()),
    ("rainy_quality", pa.float32()),
    ("clean_quality", pa.float32()),
    ("references", pa.list_(pa.string())),   # the selected references, best first
    ("mean_s_ssim", pa.float32()),
    ("max_s_ssim", pa.float32()),
    ("mean_s_vis", pa.float32()),
    ("max_s_vis", pa.float32()),
    ("mean_s_txt", pa.float32()),      # L2: smaller is closer
    ("min_s_txt", pa.float32()),
    ("config", pa.string()),           # fingerprint of everything that decided this manifest
])

# One row per candidate, rejects included: which step decided its fate and why, written by the manifest
# step with RainRAG itself. "why was X discarded" is `select * from decisions where sample_id = 'X'`.
DECISIONS = pa.schema([
    ("sample_id", pa.string()),
    ("dataset", pa.string()),
    ("source_split", pa.string()),     # the split the public dataset put the sample in
    ("stage", pa.string()),            # ingest | pairing | public_test | duplicate | judges | subset | kept
    ("reason", pa.string()),           # one sentence
    ("yes_votes", pa.int8()),          # null when it was not judged
    ("no_votes", pa.int8()),
    ("abstain_votes", pa.int8()),
    ("error_votes", pa.int8()),
    ("judge_reasons", pa.string()),    # "judge_1=yes: <raw answer> | judge_2=no: ..." where they voted
    ("subset", pa.string()),           # kept rows: DRS | DRD | NRS | NRD
    ("split", pa.string()),            # kept rows: RainRAG's train | test
    ("duplicate_of", pa.string()),     # duplicate rows: the sample that stays
])

# Findings of the audit: one `funnel` row per source dataset (how many samples entered, passed quality,
# were judged, kept), one `near_duplicate` row per manifest train image close to a public test image,
# one `misaligned` row per kept pair whose rainy and clean images disagree in their low frequencies.
AUDIT = pa.schema([
    ("finding", pa.string()),          # funnel | near_duplicate | misaligned
    ("dataset", pa.string()),
    ("sample_id", pa.string()),
    ("other_id", pa.string()),         # near_duplicate: the public test sample
    ("other_dataset", pa.string()),
    ("image", pa.string()),            # near_duplicate: rainy | clean
    ("score", pa.float32()),           # near_duplicate: Hamming distance; misaligned: alignment
    ("threshold", pa.float32()),
    ("entered", pa.int64()),
    ("passed_quality", pa.int64()),
    ("judged", pa.int64()),
    ("kept", pa.int64()),
    ("detail", pa.string()),
])

# One row per (checkpoint, test set, protocol) of the benchmark flow: the mean over the test set's images
# of metrics computed from the saved 8-bit PNGs under the named protocol (evaluation.protocols). The
# identity row (checkpoint = model = "identity") scores the rainy inputs themselves.
RESULTS = pa.schema([
    ("checkpoint", pa.string()),       # checkpoint file, or "identity"
    ("model", pa.string()),            # registered network name (unirain, restormer, prenet), or "identity"
    ("label", pa.string()),            # the row's name in reports: <run folder>@<step>, or "identity"
    ("step", pa.int64()),              # training step of the checkpoint; null for identity
    ("test_set", pa.string()),         # RainRAG, or a dataset name (Rain100L, SPA-Data, ...)
    ("subset", pa.string()),           # DRS | DRD | NRS | NRD for RainRAG; layout rule or "all" for a public split
    ("source", pa.string()),           # manifest | samples
    ("protocol", pa.string()),         # matlab_y_u8 | matlab_y_double | basicsr_y_float | skimage_uniform_rgb |
                                       # skimage_rgb | pyiqa_default
    ("psnr", pa.float64()),            # dB, mean of per-image values, identical pairs (+inf) left out; +inf only
                                       # if every image matches exactly (pyiqa_default caps them at 80 dB instead)
    ("ssim", pa.float64()),
    ("lpips", pa.float64()),           # null unless LPIPS was asked for
    ("n", pa.int32()),                 # images scored
    ("identical", pa.int32()),         # of them, restored images equal to their ground truth (+inf PSNR)
    ("predictions", pa.string()),      # folder of the restored PNGs that were scored
])

# One row per decision a person made in the review app (review/): append-only, one atomic part per
# decision under <store>/reviews/. The last row per (kind, study, item) is the decision in force; an
# undo is a row too, whose `decision` is what the item goes back to (`pending` when it had none).
REVIEWS = pa.schema([
    ("review_id", pa.string()),
    ("kind", pa.string()),             # reference (pool selection) | study (agreement study answer)
    ("study", pa.string()),            # the study's name; null for reference decisions
    ("item", pa.string()),             # the sample_id decided on
    ("decision", pa.string()),         # reference: accepted | rejected | pending; study: keep | discard
    ("action", pa.string()),           # decide | undo
    ("reviewer", pa.string()),
    ("decided_at", pa.timestamp("us", tz="UTC")),
])
