"""Interruptions, write failures and awkward images never cost data or end in a traceback."""
from __future__ import annotations

import glob
import io
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfrec.io import records
from tfrec.io.index import read_index
from tfrec.demo import synth
from tfrec.write.convert import ConvertOptions, convert
from tfrec.errors import TfrecError
from tfrec.codec.example import decode_example
from tfrec.io.journal import JOURNAL
from tfrec.check.verify import VerifyOptions, verify

SHARDS = 10


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("slow") / "imgs"
    synth.write_image_folder(root, n_per_class=150, seed=5, num_classes=4, size=(96, 96), fmt="jpeg")
    return str(root)


def _args(src, out, *extra):
    return ["convert", src, out, "-q", "--workers", "1", "--shards", str(SHARDS), "--resize", "80x80", *extra]


def _cmd(src, out, *extra):
    return [sys.executable, "-m", "tfrec.cli", *_args(src, out, *extra)]


# `tfrec convert` with a gate at one point of the first shard's life: there it prints a line and waits
# for the test's signal, so the test stops it in that state, whatever the machine's speed or load (no
# race with the clock). The signals are real; only where the process waits for them is chosen.
_GATED = """
import sys, time
import tfrec.write.shards as shards
from tfrec.io.journal import Journal

def hold(*args, **kwargs):
    print("stopped", flush=True)
    while True:
        time.sleep(1)  # SIGINT, or SIGTERM through the CLI's handler, raises KeyboardInterrupt here

gate = sys.argv[1]
if gate == "journaled":  # the first shard is complete and journaled: hold before the second is written
    real, calls = shards.write_shard, []
    def write_shard(*args, **kwargs):
        calls.append(args[0])
        return hold() if len(calls) == 2 else real(*args, **kwargs)
    shards.write_shard = write_shard
elif gate == "renamed":  # the first shard has its final name, its journal line is not written yet
    Journal.record = hold
sys.argv = ["tfrec", *sys.argv[2:]]
from tfrec.cli.main import main
main()
"""


def _start_and_stop_after_first_shard(src, out, sig, gate="journaled"):
    proc = subprocess.Popen([sys.executable, "-c", _GATED, gate, *_args(src, out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        held = proc.stdout.readline() == "stopped\n"  # blocks until the gate is reached (or the run ends)
        if held:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert held, f"the run ended before reaching its gate: {err[-2000:]}"
    return proc.returncode, err


def _shards(out):
    return {os.path.basename(p): open(p, "rb").read() for p in sorted(glob.glob(os.path.join(out, "*.tfrecord-*")))}


@pytest.fixture(scope="module")
def clean_run(folder, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("clean") / "out")
    subprocess.run(_cmd(folder, out), check=True, timeout=120)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("gate,sig", [("journaled", signal.SIGKILL), ("journaled", signal.SIGINT),
                                      ("journaled", signal.SIGTERM), ("renamed", signal.SIGKILL),
                                      ("renamed", signal.SIGINT)])
def test_interrupted_then_resumed_is_byte_identical(folder, clean_run, tmp_path, gate, sig):
    # "renamed": stopped between the first shard's rename and its journal line (issue 23 item 19)
    out = str(tmp_path / "out")
    code, err = _start_and_stop_after_first_shard(folder, out, sig, gate)
    assert not os.path.exists(os.path.join(out, "dataset.json"))
    journal = [json.loads(line) for line in open(os.path.join(out, JOURNAL))] if gate == "journaled" else []
    finals = {os.path.basename(p) for p in glob.glob(os.path.join(out, "*.tfrecord-*[0-9]"))}
    assert len(finals) == 1 and len(journal) == (gate == "journaled")
    assert finals == {e["shard"]["file"] for e in journal} or gate == "renamed"  # nothing incomplete under a final name
    if sig != signal.SIGKILL:
        assert code == 130 and "Traceback" not in err
        assert f"interrupted: {len(journal)} complete shard(s) kept" in err and "--resume" in err
        assert len(err.strip().splitlines()) == 1
    again = subprocess.run(_cmd(folder, out), capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "holds an interrupted conversion" in again.stderr
    assert "pass --resume to finish it" in again.stderr
    resumed = subprocess.run(_cmd(folder, out, "--resume", "--json"), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["reused_shards"] == len(journal)
    assert _shards(out) == _shards(clean_run)
    assert json.load(open(os.path.join(out, "dataset.json"))) == json.load(open(os.path.join(clean_run, "dataset.json")))
    assert not os.path.exists(os.path.join(out, JOURNAL))
    report = verify([out], VerifyOptions(level="decode", progress=False))
    assert report.ok and report.records == 600


@pytest.mark.slow
def test_resume_rewrites_a_damaged_kept_shard(folder, clean_run, tmp_path):
    out = str(tmp_path / "out")
    _start_and_stop_after_first_shard(folder, out, signal.SIGKILL)
    kept = json.loads(open(os.path.join(out, JOURNAL)).readline())["shard"]["file"]
    path = os.path.join(out, kept)
    data = bytearray(open(path, "rb").read())
    data[100] ^= 0xFF
    open(path, "wb").write(bytes(data))
    result = subprocess.run(_cmd(folder, out, "--resume", "--json"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert _shards(out) == _shards(clean_run)


def test_disk_full_leaves_no_partial_output(sources, tmp_path, monkeypatch):
    def full(self, chunk, compressed=False):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(records.ShardWriter, "_put", full)
    out = tmp_path / "o"
    with pytest.raises(TfrecError, match=r"tfrecord-00000-of-00001: cannot write: No space left on device \(disk full\)"):
        convert(sources["cifar10"], str(out), ConvertOptions(shards=1, progress=False))
    assert [p.name for p in out.iterdir()] == []


def test_unwritable_output(sources, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TfrecError, match="cannot write the output directory"):
        convert(sources["mnist"], str(blocker / "out"), ConvertOptions(progress=False))


# ------------------------------------------------------------------ awkward images


def _save(path, img, fmt, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **kw)


def _records_by_name(out):
    rows = {}
    for p in glob.glob(os.path.join(out, "*.tfrecord-*[0-9]")):
        for r in records.iter_records(p):
            d = decode_example(r.data)
            rows[d["filename"][1][0]] = d
    return rows


@pytest.fixture
def awkward(tmp_path):
    root = tmp_path / "awkward"
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8))
    _save(root / "a" / "cmyk.jpg", rgb.convert("CMYK"), "JPEG")
    _save(root / "a" / "deep.png", Image.fromarray(np.arange(600, dtype=np.uint16).reshape(20, 30) * 100), "PNG")
    _save(root / "a" / "palette.png", rgb.convert("P"), "PNG")
    _save(root / "a" / "alpha.png", rgb.convert("RGBA"), "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    _save(root / "b" / "rotated.jpg", rgb, "JPEG", exif=exif.tobytes())
    buf = io.BytesIO()
    rgb.resize((200, 200)).save(buf, "JPEG")  # big enough that half the file is inside the scan data
    (root / "b" / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _save(root / "b" / "big.png", Image.new("RGB", (300, 300)), "PNG")
    (root / "b" / os.fsdecode(b"caf\xe9.jpg")).write_bytes(buf.getvalue())
    (root / "empty_class").mkdir()
    return str(root)


def test_awkward_images(awkward, tmp_path):
    tf = pytest.importorskip("tensorflow")
    result = convert(awkward, str(tmp_path / "o"), ConvertOptions(progress=False, max_pixels=50_000))
    reasons = {s["path"]: s["reason"] for s in result["skipped"]}
    assert reasons[os.path.join("b", "truncated.jpg")] == "truncated JPEG: no end-of-image marker after the image data"
    assert reasons[os.path.join("b", "big.png")].startswith("image too large: 300x300 = 90000 pixels exceeds the cap of 50000")
    assert any("empty_class" in w and "label id 2 is kept" in w for w in result["warnings"])
    rows = _records_by_name(str(tmp_path / "o"))
    assert set(rows) == {b"a/cmyk.jpg", b"a/deep.png", b"a/palette.png", b"a/alpha.png", b"b/rotated.jpg", b"b/caf\\xe9.jpg"}  # not UTF-8: escaped
    for name, row in rows.items():
        image = tf.io.decode_image(row["image"][1][0], channels=3, expand_animations=False)
        assert image.dtype == tf.uint8 and image.shape[-1] == 3, name
        assert (row["height"][1][0], row["width"][1][0]) == tuple(image.shape[:2]), name
    assert tuple(tf.io.decode_image(rows[b"b/rotated.jpg"]["image"][1][0]).shape[:2]) == (30, 20)  # upright
    kept = convert(awkward, str(tmp_path / "o2"), ConvertOptions(progress=False, exif_transpose=False))
    rows = _records_by_name(kept["out"])
    assert rows[b"b/rotated.jpg"]["image"][1][0] == open(os.path.join(awkward, "b", "rotated.jpg"), "rb").read()


def test_single_class_and_symlink_loop(tmp_path):
    root = tmp_path / "one"
    synth.write_image_folder(root, n_per_class=3, seed=0, num_classes=1, size=(16, 16))
    cls = os.listdir(root)[0]
    os.symlink(root / cls, root / cls / "loop")
    result = convert(str(root), str(tmp_path / "o"), ConvertOptions(progress=False, follow_symlinks=True))
    assert result["splits"]["train"]["records"] == 3
    assert any("only one class folder" in w for w in result["warnings"])
    assert any("symlink loop" in s["reason"] for s in result["skipped"])


@pytest.mark.parametrize("start,length", [(0, 40), (5000, 3000), (-100, 100)])
def test_zero_filled_region_is_reported_with_its_record(datasets, tmp_path, start, length):
    import shutil

    out = tmp_path / "ds"
    shutil.copytree(datasets["cifar10"], out)
    shard = sorted(out.glob("*train.tfrecord-00000-*[0-9]"))[0]
    data = bytearray(shard.read_bytes())
    start = start % len(data)
    data[start : start + length] = bytes(length)
    shard.write_bytes(bytes(data))
    index = read_index(str(shard) + ".idx")
    first_bad = int(np.searchsorted(index[:, 0], start, side="right") - 1)
    report = verify([str(out)], VerifyOptions(progress=False, dataset=False))
    assert not report.ok
    framing = [p for p in report.problems if p.check == "framing"]
    assert framing[0].file.endswith(shard.name) and framing[0].record == first_bad
    assert framing[0].offset == int(index[first_bad, 0])
