"""The parse level's template check reports exactly what decoding every record reports, on clean and damaged data."""
from __future__ import annotations

import importlib
import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfrec.check.template import build_template
from tfrec.check.verify import RecordChecker
from tfrec.codec.example import encode_example
from tfrec.codec.schema import schema_from_json
from tfrec.io import scan
from tfrec.io.records import frame_record, write_records

verify_module = importlib.import_module("tfrec.check.verify")  # the module (tfrec.check.verify is the function)

FUZZ = settings(max_examples=int(os.environ.get("TFREC_FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

RAW = schema_from_json({"name": "raw", "features": {
    "image": {"kind": "image", "encoding": "raw", "dtype": "uint8", "shape": [4, 4, 1]},
    "label": {"kind": "class_label", "shape": [], "num_classes": 10}}})
ENCODED = schema_from_json({"name": "encoded", "features": {
    "image": {"kind": "image", "encoding": "png", "dtype": "uint8", "shape": [None, None, 3]},
    "label": {"kind": "class_label", "shape": [], "num_classes": 10},
    "height": {"kind": "int64", "shape": []}, "score": {"kind": "float", "shape": [2]}}})


def _raw(i: int) -> bytes:
    return encode_example({"image": bytes([i % 256]) * 16, "label": i % 10})


def _encoded(i: int) -> bytes:
    return encode_example({"image": bytes([i % 256]) * (20 + 13 * (i % 7)), "label": [(i * 37) % 300],
                           "height": [i * 1000], "score": [0.5, float(i)]})


def _problems(path: str, schema, batch: bool) -> tuple[list, list]:
    checker = RecordChecker(path, schema, "parse", 1000)
    result = scan.scan_file(path, "none", checker, 1000, on_records=checker.batch if batch else None)
    found = sorted(checker.problems, key=lambda p: (p.record, p.offset))
    return [(p.record, p.offset, p.reason) for p in result.problems], [(p.record, p.offset, p.check, p.reason) for p in found]


def _write(payloads: list[bytes]) -> str:
    fd, path = tempfile.mkstemp(suffix=".tfrecord")
    os.close(fd)
    write_records(path, payloads)
    return path


def _damaged(make, n: int, flips: list[tuple[int, int, int]]) -> list[bytes]:
    """n records, with byte `pos` of record `rec` set to `value` before framing (so every CRC holds)."""
    payloads = [bytearray(make(i)) for i in range(n)]
    for rec, pos, value in flips:
        p = payloads[rec % n]
        if p:
            p[pos % len(p)] = value
    return [bytes(p) for p in payloads]


@pytest.mark.slow
@FUZZ
@given(st.sampled_from(["raw", "encoded", "none"]),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 255)), max_size=5),
       st.sampled_from([64, 300, 4 << 20]), st.integers(0, 3))
def test_template_and_decoder_agree(kind, flips, chunk, framing_flips):
    make, schema = {"raw": (_raw, RAW), "encoded": (_encoded, ENCODED), "none": (_encoded, None)}[kind]
    payloads = _damaged(make, 60, flips)
    path = _write(payloads)
    if framing_flips:  # damage under the CRCs too: the parse check sees only intact records either way
        data = bytearray(open(path, "rb").read())
        for k in range(framing_flips):
            data[(k * 7919 + flips[0][1] if flips else k * 7919) % len(data)] ^= 0x10
        open(path, "wb").write(data)
    saved = scan.SCAN_CHUNK_BYTES, scan.FIRST_READ_BYTES
    scan.SCAN_CHUNK_BYTES = scan.FIRST_READ_BYTES = chunk
    try:
        assert _problems(path, schema, True) == _problems(path, schema, False)
    finally:
        scan.SCAN_CHUNK_BYTES, scan.FIRST_READ_BYTES = saved
        os.remove(path)
        os.remove(path + ".idx")  # the shard writer's index beside it


@pytest.mark.parametrize("make,schema", [(_raw, RAW), (_encoded, ENCODED), (_encoded, None)])
def test_clean_records_are_not_decoded_one_by_one(make, schema, monkeypatch, tmp_path):
    decoded = []
    real = verify_module.decode_example
    monkeypatch.setattr(verify_module, "decode_example", lambda d: decoded.append(1) or real(d))
    path = str(tmp_path / "clean.tfrecord")
    write_records(path, [make(i) for i in range(2000)])
    assert _problems(path, schema, True) == ([], [])
    assert len(decoded) <= verify_module.MAX_TEMPLATES  # one per layout (int64 widths differ), not 2,000


def test_each_kind_of_damage_named_as_the_decoder_names_it(tmp_path):
    good = [_raw(i) for i in range(200)]
    bad = {
        17: encode_example({"image": bytes(16)}),  # the label is missing
        40: encode_example({"image": bytes(16), "label": 3, "extra": 1.0}),
        41: encode_example({"image": bytes(15), "label": 3}),  # a raw image one byte short
        90: encode_example({"image": bytes(16), "label": [1, 2]}),
        91: encode_example({"image": bytes(16), "label": 0.5}),
        150: b"\x0a\x05junk",  # not an Example
        151: encode_example({"image": bytes(16), "label": 300}),  # a wider varint: still fine at the parse level
    }
    path = str(tmp_path / "mixed.tfrecord")
    write_records(path, [bad.get(i, g) for i, g in enumerate(good)])
    fast, slow = _problems(path, RAW, True), _problems(path, RAW, False)
    assert fast == slow
    assert [p[0] for p in fast[1]] == [17, 40, 41, 90, 91, 150]


def test_layouts_the_walk_does_not_model_have_no_template():
    assert build_template(b"\x0a\x00", {}) is not None  # an empty Example is a layout like any other
    assert build_template(b"\x10\x01", {}) is None  # an unknown field
    assert build_template(encode_example({"a": 1}) + b"\x00", {}) is None  # bytes after the Example
    t = build_template(encode_example({"x": [1.0, 2.0], "n": [5, 300, 7]}), {})
    assert t is not None and [op for op, _ in t.steps] == ["window", "end"]  # nothing of varying size
    assert build_template(encode_example({"n": [5]})[:-1] + b"\x80", {}) is None  # a varint cut short


def test_a_run_of_records_of_another_layout_learns_it(tmp_path, monkeypatch):
    decoded = []
    real = verify_module.decode_example
    monkeypatch.setattr(verify_module, "decode_example", lambda d: decoded.append(1) or real(d))
    path = str(tmp_path / "two.tfrecord")
    one = [encode_example({"image": bytes(16), "label": 1})] * 500
    two = [encode_example({"image": bytes(16), "label": 1, "id": b"abc"})] * 500
    write_records(path, one + two)
    assert _problems(path, None, True) == ([], [])
    assert len(decoded) == 2


def test_frame_record_bytes_unchanged():
    # the batch callback sees the same bytes the per-record one does
    seen = []
    payloads = [_encoded(i) for i in range(50)]
    fd, path = tempfile.mkstemp()
    os.write(fd, b"".join(frame_record(p) for p in payloads))
    os.close(fd)
    try:
        scan.scan_file(path, "none", lambda *a: None,
                       on_records=lambda i, base, buf, s, e, stride: seen.extend(bytes(buf[a:b]) for a, b in zip(s, e)))
    finally:
        os.remove(path)
    assert seen == payloads and np.all([len(p) for p in seen])


@FUZZ
@given(st.sampled_from(["raw", "encoded", "none"]), st.integers(0, 50),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=3),
       st.none() | st.integers(0, 200), st.binary(max_size=3))
def test_a_record_the_template_passes_decodes_cleanly(kind, i, flips, cut, tail):
    from tfrec.check.verify import check_example
    from tfrec.codec.example import ExampleDecodeError, decode_example

    make, schema = {"raw": (_raw, RAW), "encoded": (_encoded, ENCODED), "none": (_encoded, None)}[kind]
    raw_sizes = {"image": 16} if kind == "raw" else {}
    t = build_template(make(0), raw_sizes)
    data = bytearray(make(i))
    for pos, value in flips:
        data[pos % len(data)] = value
    data = bytes(data[:cut] if cut is not None else data) + tail
    framed = frame_record(data)  # as the scanner hands records over: framing bytes around each
    view = np.frombuffer(framed, np.uint8)
    passed = bool(t.walk(view, np.array([12]), np.array([12 + len(data)]))[0])
    if len(data) == len(t.data) and t.words is not None:
        assert bool(t.exact(framed, 12, len(data), 1)[0]) <= passed  # the exact tier never passes what the walk rejects
    if passed:
        try:
            example = decode_example(data)
        except ExampleDecodeError as e:
            raise AssertionError(f"the template passed a record the decoder rejects: {e}") from None
        assert not (check_example(example, schema) if schema else [])


def _pid_after(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return os.getpid()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to choose worker processes")
def test_parse_level_moves_to_workers_only_when_its_pace_says_so():
    from tfrec._parallel import POOL_PAYS_SECONDS, map_shards

    quick = map_shards(_pid_after, [0.0] * 4, [100] * 4, progress=False, min_bytes=None)
    assert set(quick) == {os.getpid()}  # fast shards: no pool
    slow = map_shards(_pid_after, [POOL_PAYS_SECONDS / 2] * 4, [100] * 4, progress=False, min_bytes=None)
    assert slow[0] == os.getpid() and os.getpid() not in slow[1:]  # one in this process, the rest in workers
