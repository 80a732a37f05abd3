"""`tfrec bench train`'s report from injected round timings: progress per mode, noise warnings, stage costs that
add up, and the modes chart (issue 24, defect 10). No model is trained: the timed parts are replaced."""
from __future__ import annotations

import json
import statistics

import pytest
from click.testing import CliRunner
from PIL import Image

from tfrec.bench.capacity import plan_cores, stage_costs, stage_increments
from tfrec.bench.noise import NOISY_SPREAD, noise_warnings, round_spread
from tfrec.cli.main import cli

STAGES = ("read", "parse", "decode", "augment", "output")


# --- noise: a ratio that cannot exceed 1, and the rounds' spread ---------------------------------------------------

@pytest.mark.parametrize("tfrec, synthetic", [
    ([1389.0], [1000.0]),                            # one round: no spread to quote
    ([1100.0, 1050.0, 1200.0], [1000.0, 1000.0, 1010.0]),
    ([1001.0, 1002.0], [1000.0, 1000.0]),            # barely above 1 is still above 1
])
def test_ratio_above_one_warns_with_the_rounds(tfrec, synthetic):
    ratio = sorted(a / b for a, b in zip(tfrec, synthetic))
    warnings = noise_warnings({"synthetic": synthetic, "tfrec": tfrec},
                              {"tfrec_vs_synthetic": [a / b for a, b in zip(tfrec, synthetic)]})
    above = [w for w in warnings if "tfrec / synthetic" in w]
    assert len(above) == 1 and "above 1" in above[0] and "noise" in above[0]
    if len(tfrec) == 1:
        assert "1 round" in above[0] and "--rounds" in above[0]
    else:
        assert f"{ratio[0]:.3f}-{ratio[-1]:.3f}" in above[0]


@pytest.mark.parametrize("name", ["tfrec_cached_vs_synthetic", "tutorial_vs_synthetic"])
def test_every_ratio_to_synthetic_is_bounded(name):
    mode = name.removesuffix("_vs_synthetic")
    warnings = noise_warnings({"synthetic": [100.0, 100.0], mode: [120.0, 118.0]}, {name: [1.2, 1.18]})
    assert any(w.startswith(f"{mode.replace('_', ' ')} / synthetic = 1.190") for w in warnings)


def test_ratio_between_pipelines_may_exceed_one():
    assert noise_warnings({"synthetic": [100.0, 100.0], "tfrec": [90.0, 90.0], "tutorial": [30.0, 30.0]},
                          {"tfrec_vs_tutorial": [3.0, 3.0], "tfrec_vs_synthetic": [0.9, 0.9]}) == []


@pytest.mark.parametrize("rounds, noisy", [
    ([1000.0, 1000.0, 1000.0], False),
    ([1000.0, 1040.0, 980.0], False),
    ([1000.0, 1300.0, 950.0], True),
    ([500.0, 1000.0], True),
    ([1000.0], False),  # one round: nothing to compare
])
def test_large_spread_of_a_mode_warns(rounds, noisy):
    warnings = noise_warnings({"synthetic": [1000.0] * len(rounds), "tfrec": rounds}, {})
    spread = round_spread(rounds)
    assert (spread is not None and spread > NOISY_SPREAD) == noisy
    flagged = [w for w in warnings if w.startswith("tfrec images/s")]
    assert bool(flagged) == noisy
    if noisy:
        assert f"{100 * spread:.0f}%" in flagged[0] and f"{min(rounds):,.0f}-{max(rounds):,.0f}" in flagged[0]


# --- stage costs that add up -------------------------------------------------------------------------------------

@pytest.mark.parametrize("rounds", [
    [[5.0], [12.0], [40.0], [57.6], [36.7]],                       # the issue's run: output below augment
    [[6.2, 4.4, 5.0, 2.1], [13.3, 12.2, 13.4, 9.6], [7.9, 11.9, 14.1, 8.6],
     [23.5, 23.9, 26.2, 28.6], [28.9, 38.0, 29.4, 26.7]],           # four measured rounds, decode below parse
    [[5.0, 5.0], [10.0, 10.0], [90.0, 90.0], [100.0, 100.0], [100.0, 100.0]],
    [[3.0], [3.0], [3.0], [3.0], [3.0]],
])
def test_stage_increments_are_non_negative_and_sum_to_the_whole(rounds):
    rows = stage_increments(rounds)
    whole = statistics.median(rounds[-1])
    assert all(r["adds"] >= 0 for r in rows)
    assert sum(r["adds"] for r in rows) == pytest.approx(whole)
    cumulative = [r["cumulative"] for r in rows]
    assert cumulative == sorted(cumulative) and cumulative[-1] == pytest.approx(whole)
    for before, row in zip([None] + rows, rows):
        if before is not None and row["measured"] <= before["measured"]:
            assert row["within_noise"]  # measured no dearer than the stage before it: its cost is noise


def test_issue_run_says_which_stages_are_within_noise():
    rows = stage_increments([[5.0], [12.0], [40.0], [57.6], [36.7]])
    assert [round(r["adds"], 1) for r in rows] == [5.0, 7.0, 24.7, 0.0, 0.0]
    assert [r["within_noise"] for r in rows] == [False, False, False, True, True]


def test_a_clear_increment_is_not_noise():
    rows = stage_increments([[5.0, 5.5, 4.5], [10.0, 10.5, 9.5], [90.0, 92.0, 88.0]])
    assert [r["within_noise"] for r in rows] == [False, False, False]
    assert [r["adds"] for r in rows] == [5.0, 5.0, 80.0]


def test_small_increment_inside_the_rounds_spread_is_noise():
    rows = stage_increments([[5.0, 5.0, 5.0], [50.0, 40.0, 60.0], [52.0, 42.0, 62.0]])
    assert rows[2]["adds"] == pytest.approx(2.0) and rows[2]["within_noise"] and rows[2]["noise"] == pytest.approx(20.0)


def test_stage_costs_and_cores_use_the_increments():
    stages = [{"stage": s, "images_per_s": 1e6 / w, "cpu_us_per_image": c, "rounds": {
        "images_per_s": [1e6 / w], "cpu_us_per_image": [c]}}
        for s, w, c in zip(STAGES, (5.0, 12.0, 40.0, 57.6, 36.7), (5.0, 12.0, 40.0, 57.6, 36.7))]
    costs = stage_costs(stages)
    assert sum(c["cpu_us"] for c in costs) == pytest.approx(36.7)
    assert sum(c["wall_us"] for c in costs) == pytest.approx(36.7)
    assert [c["within_noise"] for c in costs] == [False, False, False, True, True]
    plan = plan_cores(stages, 10_000)
    assert sum(s["cpu_us_per_image"] for s in plan["stages"]) == pytest.approx(plan["cpu_us_per_image"])


def test_stage_rates_measure_the_stages_interleaved(monkeypatch):
    """Each round times every stage once, in pipeline order; the figures are the medians of the rounds."""
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    from tfrec.bench import read

    order, values = [], iter([10.0, 20.0, 30.0, 12.0, 18.0, 33.0, 11.0, 25.0, 29.0])

    def fake_pass(ds, batches, *args, **kwargs):
        order.append(int(next(iter(ds))))
        us = next(values)
        return {"images_per_s": 1e6 / us, "cpu_us_per_image": us}

    monkeypatch.setattr(read, "time_pass", fake_pass)
    monkeypatch.setattr(read.timing, "settle", lambda *a, **k: None)
    stages = [(name, tf.data.Dataset.from_tensors(i)) for i, name in enumerate(("read", "parse", "output"))]
    rows = read.stage_rates(stages, 2, rounds=3)
    assert order == [0, 1, 2] * 3
    assert [r["cpu_us_per_image"] for r in rows] == [11.0, 20.0, 30.0]
    assert rows[1]["rounds"]["cpu_us_per_image"] == [20.0, 18.0, 25.0]


# --- benchmark_train with injected round timings: warnings, spread, progress --------------------------------------

def _stage_rows(cpu: list[float]) -> list[dict]:
    return [{"stage": s, "images_per_s": 1e6 / c, "cpu_us_per_image": c,
             "rounds": {"images_per_s": [1e6 / c], "cpu_us_per_image": [c]}} for s, c in zip(STAGES, cpu)]


@pytest.fixture
def scripted(monkeypatch):
    """benchmark_train with each mode's rounds and the stage figures injected: returns the rates to script."""
    pytest.importorskip("tensorflow")
    from tfrec.bench import train as bench_train

    rates: dict[str, list[float]] = {}

    def fake_mode(path, opts, datasets):
        v = rates[datasets.__name__].pop(0)
        return {"images_per_s": v, "input_stall_pct": 1.0, "step_ms_p50": 1e3 * opts.batch_size / v,
                "step_ms_p95": 1.1e3 * opts.batch_size / v, "wait_ms_p95": 0.1, "first_wait_s": 0.2,
                "start_images_per_s": v, "start_stall_pct": 2.0, "gpu": None}

    monkeypatch.setattr(bench_train, "_train_mode", fake_mode)
    monkeypatch.setattr(bench_train._Inputs, "stages", lambda self: {
        "tfrec": _stage_rows([5.0, 12.0, 40.0, 57.6, 36.7]), "tutorial": _stage_rows([6.0, 30.0, 90.0, 120.0, 121.0])})
    monkeypatch.setattr(bench_train.timing, "settle", lambda *a, **k: None)
    return rates


def _script(rates, rounds):
    rates.update({m: list(v) for m, v in rounds.items()})


NOISY = {"synthetic": [1000.0, 1300.0], "tfrec": [1389.0, 1250.0], "tfrec_cached": [990.0, 1280.0],
         "tutorial": [400.0, 420.0]}


def test_benchmark_reports_noise_and_spread(scripted, datasets):
    from tfrec.bench.train import benchmark_train

    _script(scripted, NOISY)
    r = benchmark_train(datasets["cifar10"], model="cifar_cnn", batch_size=8, rounds=2)
    assert r["ratios"]["tfrec_vs_synthetic"] > 1
    assert r["ratio_rounds"]["tfrec_vs_synthetic"] == [1.389, round(1250 / 1300, 3)]
    assert r["modes"]["synthetic"]["spread"] == pytest.approx(round_spread([1000.0, 1300.0]), abs=1e-3)
    assert any("tfrec / synthetic" in w and "above 1" in w for w in r["warnings"])
    assert any(w.startswith("synthetic images/s varied") for w in r["warnings"])
    json.dumps(r)
    costs = {s["stage"]: s for s in r["capacity"]["stages"]}
    assert sum(s["cpu_us_per_image"] for s in costs.values()) == pytest.approx(36.7)
    assert costs["augment"]["within_noise"] and costs["output"]["within_noise"]


def test_benchmark_without_noise_has_no_warnings(scripted, datasets):
    from tfrec.bench.train import benchmark_train

    _script(scripted, {"synthetic": [1000.0, 1010.0], "tfrec": [950.0, 960.0], "tfrec_cached": [990.0, 1000.0],
                       "tutorial": [300.0, 305.0]})
    assert benchmark_train(datasets["cifar10"], model="cifar_cnn", batch_size=8, rounds=2)["warnings"] == []


def test_progress_names_each_mode_and_round(scripted, datasets, capsys):
    from tfrec.bench.train import benchmark_train

    _script(scripted, NOISY)
    benchmark_train(datasets["cifar10"], model="cifar_cnn", batch_size=8, rounds=2, progress=True)
    err = capsys.readouterr().err
    for mode in NOISY:
        assert f"round 1/2: {mode}" in err and f"round 2/2: {mode}" in err
    assert "stage rates" in err and "elapsed" in err


def test_cli_progress_warnings_and_quiet(scripted, datasets, tmp_path):
    args = ["bench", "train", datasets["cifar10"], "--model", "cifar_cnn", "--batch-size", "8", "--rounds", "2"]
    _script(scripted, NOISY)
    shown = CliRunner().invoke(cli, args)
    assert shown.exit_code == 0, shown.output
    assert "round 2/2: tutorial" in shown.stderr
    assert "warning: tfrec / synthetic = " in shown.stdout and "above 1" in shown.stdout
    assert "add up to the whole pipeline's 36.7" in shown.stdout and "(within noise)" in shown.stdout
    _script(scripted, NOISY)
    quiet = CliRunner().invoke(cli, [*args, "-q"])
    assert quiet.exit_code == 0 and "round 1/2" not in quiet.stderr and "tfrec / synthetic" in quiet.stdout
    _script(scripted, NOISY)
    as_json = CliRunner().invoke(cli, [*args, "--json"])
    r = json.loads(as_json.stdout)
    assert r["warnings"] and "round 1/2" not in as_json.stderr


# --- the modes chart ---------------------------------------------------------------------------------------------

def _result(gpu: str | None = None) -> dict:
    modes = {m: {"images_per_s": v, "input_stall_pct": s, "images_per_s_rounds": rr}
             for m, v, s, rr in [("synthetic", 1234.5, 0.0, [1200.0, 1234.5, 1300.0]),
                                 ("tfrec", 1100.0, 7.2, [1000.0, 1100.0, 1150.0]),
                                 ("tfrec_cached", 1200.0, 1.0, [1190.0, 1200.0, 1210.0]),
                                 ("tutorial", 400.0, 60.0, [390.0, 400.0, 410.0])]}
    return {"modes": modes, "model": "cifar_cnn", "batch_size": 128, "augment": "cifar", "gpu": gpu,
            "ratios": {"tfrec_vs_synthetic": 0.891}, "warnings": []}


@pytest.mark.parametrize("top, ticks", [(1234.5, [0, 200, 400, 600, 800, 1000, 1200, 1400]),
                                        (9.5, [0, 2, 4, 6, 8, 10]), (0.4, [0, 0.1, 0.2, 0.3, 0.4]),
                                        (55_000, [0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000])])
def test_linear_ticks_cover_the_data(top, ticks):
    from tfrec.bench.chart import linear_ticks

    assert linear_ticks(top) == pytest.approx(ticks)


@pytest.mark.parametrize("gpu", [None, "NVIDIA H100 80GB HBM3"])
def test_modes_layout_has_axis_units_legend_and_title(gpu):
    from tfrec.bench.chart import modes_layout

    layout = modes_layout(_result(gpu))
    assert layout["y_label"] == "images/s"
    assert layout["ticks"][0] == (0, "0") and layout["ticks"][-1][0] >= 1300  # the highest round fits
    assert [t[1] for t in layout["ticks"]][:3] == ["0", "200", "400"]
    assert {"model alone (synthetic)", "training from an input", "min-max of the rounds"} <= set(layout["legend"])
    assert ("no GPU" in layout["title"]) == (gpu is None) and "noGPU" not in layout["title"]
    assert gpu is None or gpu in layout["title"]
    assert [b["name"] for b in layout["bars"]] == ["synthetic", "tfrec", "tfrec_cached", "tutorial"]


def test_modes_chart_draws_the_axis(tmp_path):
    from tfrec.bench.chart import modes_chart, modes_layout

    path = modes_chart(_result(), str(tmp_path / "modes.png"))
    img = Image.open(path).convert("RGB")
    layout = modes_layout(_result())
    x0, y0, x1, y1 = layout["plot"]
    column = [img.getpixel((x0, y)) for y in range(y0, y1)]
    assert sum(p != (255, 255, 255) for p in column) > 0.9 * (y1 - y0)  # the y axis is drawn
    left = img.crop((0, y0, x0 - 2, y1))  # the tick labels and the axis title
    assert sum(left.convert("L").histogram()[:255]) > 100
    assert img.size[0] >= x1 and img.size[1] >= y1


def test_sweep_chart_still_draws(tmp_path):
    from tfrec.bench.chart import sweep_chart

    rows = [{"dimension": d, "setting": s, "reader_images_per_s": 5000.0 * (i + 1), "synthetic_images_per_s": 1200.0,
             "tfrec_images_per_s": 1100.0, "gpu_util_mean_pct": None}
            for d in ("reader parallelism", "batch size") for i, s in enumerate(("1", "2", "4"))]
    path = sweep_chart({"rows": rows, "model": "cifar_cnn", "path": "out/cifar10/"}, str(tmp_path / "s.png"))
    assert Image.open(path).size[0] > 300


def test_a_mode_row_counts_every_batch_after_the_first_wait():
    from tfrec.bench.rounds import mode_row

    # 8 steps of 128 images, 0.1 s each, after a first wait of 0.2 s: 1,024 images in 0.8 s
    epoch = {"images": 1024, "steps": 8, "wall_s": 1.0, "first_wait_s": 0.2, "steady_stall_pct": 0.0,
             "input_stall_pct": 20.0, "images_per_s": 1024.0, "step_ms_p50": 100.0, "step_ms_p95": 100.0,
             "wait_ms_p95": 0.1, "gpu": None}
    row = mode_row({"epochs": [epoch]})
    assert row["images_per_s"] == pytest.approx(1280.0)
    assert row["start_images_per_s"] == 1024.0 and row["first_wait_s"] == 0.2 and row["gpu"] is None
