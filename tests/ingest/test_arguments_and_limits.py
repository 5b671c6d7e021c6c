"""Bad command lines fail in a second with one `error:` line; the user's pixel limit is the one applied."""
from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from flows.ingest import main
from storage.images import ImageProblem, probe
from storage.sources.registry import load_registry, locate, resolve_names
from tests.ingest.test_ingest_flow import write_ddn_tree

REPO = Path(__file__).resolve().parents[2]


def _exit(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return exited.value.code, capsys.readouterr().err


def test_a_store_path_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    write_ddn_tree(tmp_path / "data", range(1, 3))
    (tmp_path / "store").write_text("not a folder")
    code, err = _exit(["--data-root", str(tmp_path / "data"), "--store", str(tmp_path / "store")], capsys)
    assert code == 2 and err == f"error: store {tmp_path / 'store'} is a file, not a folder; pass a folder " \
                                "(it is created if missing)\n"
    code, err = _exit(["--data-root", str(tmp_path / "data"), "--store", str(tmp_path / "store" / "inner")], capsys)
    assert code == 2 and f"lies under {tmp_path / 'store'}, which is a file" in err and "Traceback" not in err


def test_the_distill_command_checks_the_store_before_the_run(tmp_path):
    write_ddn_tree(tmp_path / "data", range(1, 3))
    (tmp_path / "store").write_text("not a folder")
    done = subprocess.run([sys.executable, "-m", "flows.distill", "--data-root", str(tmp_path / "data"),
                           "--store", str(tmp_path / "store"), "--profile", "offline"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"error: store {tmp_path / 'store'} is a file, not a folder; pass a folder (it is created if missing)"]


@pytest.mark.parametrize("name", ["DDN-Data", "ddn-data", "DDN_DATA", "Rain1400", "rain14000", "ddn"])
def test_dataset_names_match_by_the_folder_rule(tmp_path, name):
    registry = load_registry()
    assert resolve_names(registry, [name]) == ["DDN-Data"]
    write_ddn_tree(tmp_path, range(1, 2))
    located, _ = locate(tmp_path, registry, [name])
    assert [item.dataset.name for item in located] == ["DDN-Data"]


def test_a_known_dataset_without_a_folder_is_named_with_what_was_looked_for(tmp_path, capsys):
    write_ddn_tree(tmp_path / "data", range(1, 2))
    code, err = _exit(["--data-root", str(tmp_path / "data"), "--store", str(tmp_path / "store"),
                       "--datasets", "rain1400", "rain100l"], capsys)
    assert code == 2 and err.startswith(f"error: no folder under {tmp_path / 'data'} for Rain100L (folder names "
                                        "looked for, in any letter case and with or without separators: Rain100L")
    code, err = _exit(["--data-root", str(tmp_path / "data"), "--store", str(tmp_path / "store"),
                       "--datasets", "Rain9999"], capsys)
    assert code == 2 and err.startswith("error: unknown dataset(s) ['Rain9999']; known (any letter case")
    assert not (tmp_path / "store").exists()


def _bilevel_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_raised_pixel_limit_is_the_one_applied_in_a_fresh_process(tmp_path):
    """95 Mpx is above Pillow's own guard (89.5 Mpx); a worker process must apply the user's limit alone."""
    big = tmp_path / "big.png"
    big.write_bytes(_bilevel_png(10_000, 9_500))
    script = textwrap.dedent(f"""
        from pathlib import Path
        from storage.images import ImageProblem, load_rgb8, probe
        data = Path({str(big)!r}).read_bytes()
        info, _ = probe(data, max_pixels=200_000_000)
        print(info.width * info.height, load_rgb8(Path({str(big)!r})).shape)
        try:
            probe(data, max_pixels=90_000_000)
        except ImageProblem as exc:
            print(exc.code, exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    accepted, refused = done.stdout.splitlines()
    assert accepted == "95000000 (9500, 10000, 3)"
    assert refused == ("too_many_pixels 10000x9500 = 95000000 pixels is above the limit of 90000000 "
                       "(--max-pixels, the decompression-bomb guard); not decoded")


def test_the_pixel_limit_refuses_before_decoding():
    with pytest.raises(ImageProblem) as refused:
        probe(_bilevel_png(2_000, 1_000), max_pixels=1_999_999)
    assert refused.value.code == "too_many_pixels"
