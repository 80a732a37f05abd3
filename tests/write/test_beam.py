"""--runner beam: the DirectRunner (2 worker processes) writes the same bytes as the local runner; resume; verify."""
from __future__ import annotations

import filecmp
import json
import os
import shutil

import pytest

pytest.importorskip("apache_beam")  # in the dev extra; without it these tests cannot run at all

from click.testing import CliRunner  # noqa: E402

from tfrec.check.verify import VerifyOptions, verify  # noqa: E402
from tfrec.cli.main import cli  # noqa: E402
from tfrec.errors import TfrecError  # noqa: E402
from tfrec.io.journal import JOURNAL_DIR  # noqa: E402
from tfrec.write.beam_glue import beam_flags  # noqa: E402
from tfrec.write.convert import ConvertOptions, convert  # noqa: E402

pytestmark = pytest.mark.slow  # each pipeline starts a DirectRunner and 2 worker processes (~4-7 s)


def assert_same_output(local: str, beam: str) -> None:
    """Every shard and .idx byte-identical; dataset.json equal apart from its `runner` field."""
    names = sorted(os.listdir(local))
    assert names == sorted(os.listdir(beam))
    for name in names:
        if name != "dataset.json":
            assert filecmp.cmp(os.path.join(local, name), os.path.join(beam, name), shallow=False), name
    a, b = (json.load(open(os.path.join(d, "dataset.json"))) for d in (local, beam))
    assert (a.pop("runner"), b.pop("runner")) == ("local", "beam")
    assert a == b


@pytest.mark.parametrize("fmt", ["mnist", "cifar10", "imagefolder"])
def test_beam_output_is_byte_identical_to_local(sources, tmp_path, fmt):
    opts = dict(shards=3, seed=7, progress=False)
    convert(sources[fmt], str(tmp_path / "local"), ConvertOptions(**opts, workers=1))
    result = convert(sources[fmt], str(tmp_path / "beam"), ConvertOptions(**opts, runner="beam"))
    assert result["runner"] == "beam" and result["reused_shards"] == 0
    assert_same_output(str(tmp_path / "local"), str(tmp_path / "beam"))


def test_beam_run_failed_midway_resumes_to_the_same_bytes(sources, tmp_path, monkeypatch):
    """Injected failure: in an in-process DirectRunner run the final step's write_manifest raises, so the
    pipeline fails after every shard was written and journalled; deleting 3 of the 6 shards (and leaving
    a stray temp file) then gives the state of a run killed mid-way. --resume (2 worker processes)
    rewrites exactly the 3 missing shards, and the output equals the local run's."""
    import tfrec.write.job as job_module

    src, local, out = sources["imagefolder"], str(tmp_path / "local"), tmp_path / "beam"
    opts = dict(shards=6, progress=False)
    convert(src, local, ConvertOptions(**opts, workers=1))

    def fail(*args):
        raise OSError("injected failure")

    monkeypatch.setattr(job_module, "write_manifest", fail)
    with pytest.raises(TfrecError, match="Beam pipeline failed: .*injected failure"):
        convert(src, str(out), ConvertOptions(**opts, runner="beam", beam_options=("direct_running_mode=in_memory",)))
    monkeypatch.undo()
    assert not (out / "dataset.json").exists()
    assert len(os.listdir(out / JOURNAL_DIR)) == 6
    shards = sorted(p for p in os.listdir(out) if p.endswith("-of-00006"))
    for name in shards[::2]:
        os.remove(out / name)
        os.remove(out / f"{name}.idx")
    (out / f".{shards[0]}.tmp-12345").write_bytes(b"half a shard")
    with pytest.raises(TfrecError, match="interrupted conversion"):
        convert(src, str(out), ConvertOptions(**opts, runner="beam"))
    result = convert(src, str(out), ConvertOptions(**opts, runner="beam", resume=True))
    assert result["reused_shards"] == 3
    assert not (out / JOURNAL_DIR).exists()
    assert_same_output(local, str(out))


def test_verify_on_beam_finds_what_local_verify_finds(datasets, tmp_path):
    data = shutil.copytree(datasets["cifar10"], tmp_path / "cifar10")
    shard = sorted(p for p in os.listdir(data) if "train.tfrecord" in p)[1]
    raw = bytearray((data / shard).read_bytes())
    raw[40] ^= 0xFF
    (data / shard).write_bytes(bytes(raw))
    local = verify([str(data)], VerifyOptions(progress=False, workers=1))
    beam = verify([str(data)], VerifyOptions(progress=False, runner="beam"))
    assert not local.ok and not beam.ok
    assert beam.problems == local.problems and beam.records == local.records
    assert [(r.file, r.checksum) for r in beam.shards] == [(r.file, r.checksum) for r in local.shards]


def test_cli_runner_beam_convert_and_verify(sources, tmp_path):
    out = str(tmp_path / "out")
    r = CliRunner().invoke(cli, ["convert", sources["mnist"], out, "--shards", "2", "--runner", "beam",
                                 "--beam-option", "direct_num_workers=2", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["runner"] == "beam"
    r = CliRunner().invoke(cli, ["verify", out, "--runner", "beam", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["ok"] is True


def test_beam_flags_defaults_and_errors():
    flags = beam_flags(["runner=DataflowRunner", "project=p", "--region=r"])
    assert "--runner=DataflowRunner" in flags and "--project=p" in flags and "--region=r" in flags
    assert "--runner=DirectRunner" not in flags
    assert "--direct_num_workers=2" in beam_flags([])
    assert "--direct_num_workers=3" in beam_flags([], workers=3)
    with pytest.raises(TfrecError, match="expected KEY=VALUE"):
        beam_flags(["no-equals"])
