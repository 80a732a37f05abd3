"""Real odd image files (Pillow's own test images): convert -> verify --deep -> make_dataset, end to end.

Every file either converts to something TensorFlow's decoders read as the same picture Pillow
sees, or is skipped with a stable reason. The re-encoding rule (tfrec.codec.images.tf_unreadable)
is decided from headers alone; this test proves it against TensorFlow itself.
"""
from __future__ import annotations

import io
import json
import os
import shutil

import numpy as np
import pytest

from tfrec.check.verify import VerifyOptions, verify
from tfrec.codec.example import decode_example
from tfrec.io.records import iter_records
from tfrec.write.convert import ConvertOptions, convert

CORPUS = os.path.join(os.path.dirname(__file__), "..", "data", "odd-images")

# file -> the format stored: kept byte for byte ("=fmt") or re-encoded ("fmt")
STORED = {
    "jpeg/hopper_orientation_6.jpg": "jpeg",  # EXIF orientation: stored upright
    "jpeg/pil_sample_cmyk.jpg": "jpeg",  # CMYK
    "jpeg/app13-multiple.jpg": "=jpeg",  # progressive
    "jpeg/hopper_16bit_qtables.jpg": "=jpeg",
    "png/i_trns.png": "png",  # 16-bit grayscale with tRNS
    "png/uncompressed_la.png": "=png",  # grayscale + alpha
    "png/p_trns_single.png": "=png",  # palette with transparency
    "png/pil123p.png": "=png",  # interlaced palette
    "png/1_trns.png": "=png",  # 1-bit
    "gif/dispose_bgnd.gif": "png",  # animated: its first frame
    "gif/first_frame_transparency.gif": "png",  # first frame smaller than the screen
    "gif/no_palette.gif": "png",  # no colour map: TensorFlow rejects it
    "gif/hopper_zero_comment_subblocks.gif": "png",  # TensorFlow's giflib rejects it
    "webp/hopper.webp": "=webp",
    "webp/transparent.webp": "png",  # alpha: TensorFlow's WebP decoder cannot give 3 channels
    "bmp/pal8rle.bmp": "png",  # RLE8
    "bmp/pal8rletrns.bmp": "png",  # RLE8 with transparent runs
    "bmp/pal4rle.bmp": "png",  # RLE4
    "bmp/pal1.bmp": "png",  # 1-bit
    "bmp/rgb16-565.bmp": "png",  # 16-bit bitfields
    "bmp/pal8.bmp": "png",  # 8-bit palette: TensorFlow would read the indices as gray
    "bmp/rgb24.bmp": "=bmp",  # plain 24-bit: TensorFlow reads it as it is
    "bmp/rgba32.bmp": "png",  # 32-bit bitfields: TensorFlow ignores the masks
    "bmp/pal8os2.bmp": "png",  # OS/2 header
    "bmp/rgb24prof.bmp": "png",  # an ICC profile after the pixels: TensorFlow wants the exact size
    "broken/g4_orientation_1.tif": "png",  # TIFF (CCITT G4, 1-bit): TensorFlow has no TIFF decoder
    "broken/tiff_named_as.png": "png",  # the same TIFF under a .png name: read by its content
}
SKIPPED = {
    "broken/truncated_jpeg.jpg": "truncated JPEG: no end-of-image marker after the image data",
    "broken/broken.png": "not a valid image: Pillow cannot identify its format",
    "broken/truncated_end_chunk.png": "truncated PNG: no IEND chunk",
    "broken/broken_data_stream.png": "truncated PNG: no IEND chunk",
    "broken/zero_width.gif": "not a valid image: Pillow cannot identify its format",
    "broken/decompression_bomb.gif": "image too large: 65535x66601 = 4364696535 pixels exceeds the cap of 178956970",
    "broken/shortfile.bmp": "not a valid image: image file is truncated (3 bytes not processed)",
}


def reference(path: str) -> np.ndarray:
    """What a person sees: Pillow's first frame, upright, 8-bit RGB."""
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = None
    with Image.open(path) as img:
        img.seek(0)
        img = ImageOps.exif_transpose(img)
        if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            img = img.point(lambda v: v / 256).convert("L")
        if img.mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        return np.asarray(img.convert("RGB")).astype(np.int16)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("odd") / "out")
    return convert(CORPUS, out, ConvertOptions(shards=2, progress=False, workers=1, shuffle=False))


def stored_records(out: str) -> dict[str, dict]:
    manifest = json.load(open(os.path.join(out, "dataset.json")))
    records = {}
    for s in manifest["splits"]["train"]["shards"]:
        for rec in iter_records(os.path.join(out, s["file"])):
            ex = {k: v[1][0] for k, v in decode_example(rec.data).items()}
            records[ex["filename"].decode()] = ex
    return records


def test_every_file_is_stored_or_skipped_with_a_stable_reason(converted):
    assert {s["path"]: s["reason"] for s in converted["skipped"]} == SKIPPED
    out = converted["out"]
    records = stored_records(out)
    assert sorted(records) == sorted(STORED)
    for name, want in STORED.items():
        ex = records[name]
        assert ex["format"].decode() == want.lstrip("="), name
        original = open(os.path.join(CORPUS, name), "rb").read()
        assert (bytes(ex["image"]) == original) == want.startswith("="), name
    # nothing ignored: TIFFs are images (issue 24 item 8); files beside the class folders are not looked at
    assert converted["ignored_files"] == 0 and converted["ignored"] == []


def test_tensorflow_decodes_every_stored_image_as_pillow_sees_the_original(converted):
    import tensorflow as tf

    from tfrec.read.decode import decode_any

    for name, ex in stored_records(converted["out"]).items():
        img = decode_any(tf.constant(bytes(ex["image"])), 3).numpy().astype(np.int16)
        ref = reference(os.path.join(CORPUS, name))
        assert img.shape == ref.shape == (ex["height"], ex["width"], 3), name
        if ex["format"] == b"jpeg":  # TensorFlow's and Pillow's IDCTs differ a little; re-encoding loses a little
            from PIL import Image

            stored = np.asarray(Image.open(io.BytesIO(bytes(ex["image"]))).convert("RGB")).astype(np.int16)
            assert np.abs(img - stored).mean() <= 3, name  # TF: INTEGER_FAST IDCT
            assert np.abs(img - ref).mean() <= 8, name
        else:  # lossless: the same pixels
            assert np.abs(img - ref).max() <= 1, name


def test_verify_deep_passes_and_make_dataset_reads_every_record(converted):
    report = verify([converted["out"]], VerifyOptions(level="decode", progress=False, workers=1))
    assert report.ok, report.summary()
    import tfrec

    ds = tfrec.make_dataset(converted["out"], batch_size=5, image_size=(32, 32), shuffle=False)
    n = sum(int(images.shape[0]) for images, _ in ds)
    assert n == len(STORED)


def test_the_skip_reasons_are_the_same_from_run_to_run(converted, tmp_path):
    again = convert(CORPUS, str(tmp_path / "again"), ConvertOptions(shards=2, progress=False, workers=1, shuffle=False))
    assert again["skipped"] == converted["skipped"]
    assert not any("0x" in s["reason"] for s in again["skipped"])
