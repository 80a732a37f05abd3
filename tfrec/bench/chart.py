"""PNG charts of the train benchmark, drawn with Pillow: images/s of each mode, and the sweep's panels."""
from __future__ import annotations

import math
import os

from PIL import Image, ImageDraw, ImageFont

COLOURS = {"reader": (31, 119, 180), "model (synthetic)": (214, 39, 40), "training from tfrec": (44, 160, 44),
           "GPU utilisation %": (148, 103, 189)}
_BG, _INK, _GRID = (255, 255, 255), (30, 30, 30), (225, 225, 225)


def _font():
    return ImageFont.load_default()


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        ticks += [m * 10**e for m in (1, 2, 5) if lo <= m * 10**e <= hi]
    return ticks or [lo, hi]


def _panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str, labels: list[str],
           series: dict[str, list[float | None]], lo: float, hi: float, right: list[float | None] | None) -> None:
    """One panel: log-scale images/s against the settings; GPU utilisation (0-100) on a right axis if given."""
    x0, y0, x1, y1 = box
    font = _font()
    draw.text((x0, y0 - 28), title, fill=_INK, font=font)
    y_of = lambda v: y1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (y1 - y0)  # noqa: E731
    for t in _log_ticks(lo, hi):
        y = y_of(t)
        draw.line([(x0, y), (x1, y)], fill=_GRID)
        draw.text((x0 - 58, y - 6), f"{t:,.0f}", fill=_INK, font=font)
    draw.rectangle(box, outline=_INK)
    step = (x1 - x0) / max(1, len(labels))
    xs = [x0 + step * (i + 0.5) for i in range(len(labels))]
    for x, label in zip(xs, labels):
        draw.text((x - 3 * len(label), y1 + 6), label, fill=_INK, font=font)
    for name, values in series.items():
        points = [(x, y_of(v)) for x, v in zip(xs, values) if v]
        if len(points) > 1:
            draw.line(points, fill=COLOURS[name], width=3)
        for x, y in points:
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=COLOURS[name])
    if right and any(v is not None for v in right):
        for pct in (0, 50, 100):
            draw.text((x1 + 6, y1 - pct / 100 * (y1 - y0) - 6), f"{pct}%", fill=COLOURS["GPU utilisation %"], font=font)
        points = [(x, y1 - v / 100 * (y1 - y0)) for x, v in zip(xs, right) if v is not None]
        if len(points) > 1:
            draw.line(points, fill=COLOURS["GPU utilisation %"], width=2)


def _legend(draw: ImageDraw.ImageDraw, x: int, y: int, names: list[str]) -> None:
    for name in names:
        draw.rectangle([x, y + 2, x + 14, y + 12], fill=COLOURS[name])
        draw.text((x + 20, y), name, fill=_INK, font=_font())
        x += 30 + 7 * len(name)


def sweep_chart(sweep: dict, path: str) -> str:
    """Writes the sweep as a PNG: one panel per dimension, reader and model images/s against the setting."""
    dims = list(dict.fromkeys(r["dimension"] for r in sweep["rows"]))
    keys = {"reader": "reader_images_per_s", "model (synthetic)": "synthetic_images_per_s",
            "training from tfrec": "tfrec_images_per_s"}
    values = [r[k] for r in sweep["rows"] for k in keys.values() if r[k]]
    lo, hi = 10 ** math.floor(math.log10(min(values))), 10 ** math.ceil(math.log10(max(values)))
    gpu = any(r["gpu_util_mean_pct"] is not None for r in sweep["rows"])
    width, height, pw = 80 + 330 * len(dims), 420, 250
    img = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(img)
    name = os.path.basename(sweep["path"].rstrip("/"))
    draw.text((20, 10), f"tfrec bench train --sweep: {sweep['model']} on {name} (images/s, log scale)", fill=_INK,
              font=_font())
    for i, dim in enumerate(dims):
        rows = [r for r in sweep["rows"] if r["dimension"] == dim]
        box = (70 + 330 * i, 80, 70 + 330 * i + pw, 350)
        _panel(draw, box, dim, [r["setting"] for r in rows], {n: [r[k] for r in rows] for n, k in keys.items()},
               lo, hi, [r["gpu_util_mean_pct"] for r in rows] if gpu else None)
    _legend(draw, 20, 385, list(keys) + (["GPU utilisation %"] if gpu else []))
    img.save(path)
    return path


def modes_chart(result: dict, path: str) -> str:
    """Writes a bar chart of the four modes' images/s (input stall % above each bar) as a PNG."""
    modes = result["modes"]
    width, height = 120 + 140 * len(modes), 360
    img = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(img)
    font = _font()
    draw.text((20, 10), f"tfrec bench train: {result['model']}, batch {result['batch_size']}, augment "
              f"{result['augment']}, " + (result["gpu"] or "no GPU"), fill=_INK, font=font)
    top = max(m["images_per_s"] for m in modes.values()) or 1
    x0, y0, y1 = 70, 60, 300
    draw.line([(x0, y1), (width - 20, y1)], fill=_INK)
    for i, (name, m) in enumerate(modes.items()):
        x = x0 + 20 + 140 * i
        y = y1 - m["images_per_s"] / top * (y1 - y0)
        draw.rectangle([x, y, x + 90, y1], fill=(31, 119, 180) if name != "synthetic" else (214, 39, 40))
        draw.text((x, y - 28), f"{m['images_per_s']:,.0f}/s", fill=_INK, font=font)
        draw.text((x, y - 14), f"stall {m['input_stall_pct']:.1f}%", fill=_INK, font=font)
        draw.text((x, y1 + 8), name, fill=_INK, font=font)
    img.save(path)
    return path
