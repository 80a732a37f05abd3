"""`tfrec bench train` in its smallest configuration (so the benchmark cannot rot), its parts, and its CLI."""
from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from PIL import Image

from tfrec.bench.capacity import limiting_stage, plan_cores, stage_costs
from tfrec.bench.options import MODES, TrainBenchOptions
from tfrec.cli.bench import train_bench_summary
from tfrec.cli.main import cli
from tfrec.training.zoo import TrainUsageError

SMALLEST = ["--model", "cifar_cnn", "--batch-size", "8", "--steps-per-epoch", "2", "--rounds", "1", "--augment", "cifar"]


def test_options_check_themselves():
    with pytest.raises(TrainUsageError, match="steps: expected at least 2"):
        TrainBenchOptions(steps=1)
    with pytest.raises(TrainUsageError, match="modes"):
        TrainBenchOptions(modes=("tfrec", "bogus"))
    assert TrainBenchOptions(image_size=32).image_size == (32, 32)


def test_stage_arithmetic():
    stages = [{"stage": "read", "images_per_s": 100_000, "cpu_us_per_image": 5.0},
              {"stage": "parse", "images_per_s": 50_000, "cpu_us_per_image": 10.0},
              {"stage": "decode", "images_per_s": 10_000, "cpu_us_per_image": 90.0},
              {"stage": "output", "images_per_s": 9_000, "cpu_us_per_image": 100.0}]
    costs = stage_costs(stages)
    assert [round(c["wall_us"], 1) for c in costs] == [10.0, 10.0, 80.0, 11.1]
    assert [c["cpu_us"] for c in costs] == [5.0, 5.0, 80.0, 10.0]
    limit = limiting_stage(stages, 18_000)
    assert limit["stage"] == "decode" and limit["shortfall"] == 2.0
    assert limiting_stage(stages, 18_000, skip=("decode",))["stage"] != "decode"
    plan = plan_cores(stages, 20_000)  # 20,000 images/s x 100 µs = 2 cores
    assert plan["cores"] == 2.0 and plan["cores_whole"] == 2
    assert "20,000 images/s x 100.0 CPU µs/image = 2.00 cores" in plan["arithmetic"]
    assert [s["images_per_s_per_core"] for s in plan["stages"]] == [200_000, 200_000, 12_500, 100_000]


def test_page_cache_drop(tmp_path):
    from tfrec.bench.pagecache import drop_page_cache, resident_fraction

    f = tmp_path / "shard"
    f.write_bytes(os.urandom(1 << 20))
    f.read_bytes()
    report = drop_page_cache([str(f)])
    assert report["method"].startswith("posix_fadvise")
    if report["resident_after"] is not None:  # mincore answered: the pages are gone
        assert report["resident_after"] < 0.1
        f.read_bytes()
        assert resident_fraction([str(f)]) > 0.9


@pytest.mark.slow  # four models built and traced: ~20 s on 2 shared cores
def test_smallest_run_reports_four_modes(datasets, tmp_path):
    pytest.importorskip("tensorflow")
    chart = str(tmp_path / "modes.png")
    result = CliRunner().invoke(cli, ["bench", "train", datasets["cifar10"], *SMALLEST, "--json", "--chart", chart])
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert list(r["modes"]) == list(MODES)
    for m in r["modes"].values():
        assert m["images_per_s"] > 0 and m["step_ms_p50"] > 0 and m["input_stall_pct"] >= 0
        # Without a GPU nothing was measured: None, never a zero.
        assert m["gpu"] is None if r["gpu"] is None else m["gpu"]["util_mean_pct"] >= 0
    assert set(r["ratios"]) >= {"tfrec_vs_synthetic", "tfrec_vs_tutorial", "reader_tfrec_vs_tutorial"}
    assert [s["stage"] for s in r["stages"]["tfrec"]] == ["read", "parse", "decode", "augment", "output"]
    assert [s["stage"] for s in r["stages"]["tutorial"]] == ["read", "parse", "decode", "augment", "output"]
    for stages in r["stages"].values():  # each stage's own CPU cost: non-negative, adding up to the whole's
        assert all(s["adds_cpu_us_per_image"] >= 0 and len(s["rounds"]["images_per_s"]) == 3 for s in stages)
        assert sum(s["adds_cpu_us_per_image"] for s in stages) == pytest.approx(stages[-1]["cpu_us_per_image"], abs=0.05)
    assert isinstance(r["warnings"], list) and set(r["ratio_rounds"]) >= {"tfrec_vs_synthetic"}
    for mode, limit in r["limits"].items():
        assert r["modes"][mode]["input_bound"] and limit["stage"] in ("read", "parse", "decode", "augment", "output")
    assert r["capacity"]["cores"] > 0 and "cores" in r["capacity"]["arithmetic"]
    assert r["page_cache"]["dropped"] and r["targets"]["tfrec_vs_synthetic"]["wanted"] == 0.95
    assert Image.open(chart).size[0] > 300
    human = train_bench_summary(r)
    assert "headline: tfrec / synthetic" in human and "capacity:" in human and "page cache: dropped" in human
    assert ("no GPU" in human) == (r["gpu"] is None)


def test_usage_errors(datasets):
    result = CliRunner().invoke(cli, ["bench", "train", datasets["cifar10"], "--model", "cifar_cnn", "--image-size", "4"])
    assert result.exit_code == 2 and "at least 8x8" in result.output
    result = CliRunner().invoke(cli, ["bench", "train", datasets["cifar10"], "--steps", "1"])
    assert result.exit_code == 2


@pytest.mark.slow  # 1 + 3 models built and traced
def test_sweep_table_and_chart(datasets, tmp_path):
    pytest.importorskip("tensorflow")
    chart = str(tmp_path / "sweep.png")
    from tfrec.bench.chart import SWEEP_LEFT, SWEEP_PANEL, sweep_chart
    from tfrec.bench.sweep import sweep_train

    sweep = sweep_train(datasets["cifar10"], TrainBenchOptions(model="cifar_cnn", batch_size=8, steps=2, stage_batches=2),
                        dimensions=("reader parallelism",))
    rows = sweep["rows"]
    assert [r["setting"] for r in rows] == ["1", "2", "AUTOTUNE", "default"]
    assert all(r["reader_images_per_s"] > 0 and r["synthetic_images_per_s"] > 0 and r["tfrec_images_per_s"] > 0
               for r in rows)
    assert Image.open(sweep_chart(sweep, chart)).size == (SWEEP_LEFT + SWEEP_PANEL, 440)
