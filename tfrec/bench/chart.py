"""PNG charts of the train benchmark, drawn with Pillow: images/s of each mode, and the sweep's panels."""
from __future__ import annotations

import math
import os

from PIL import Image, ImageDraw, ImageFont

COLOURS = {"reader": (31, 119, 180), "model (synthetic)": (214, 39, 40), "training from tfrec": (44, 160, 44),
           "GPU utilisation %": (148, 103, 189)}
_BG, _INK, _GRID = (255, 255, 255), (30, 30, 30), (225, 225, 225)
SWEEP_LEFT, SWEEP_PANEL = 100, 340  # the sweep chart's left margin (axis title, ticks) and each panel's width


def _font(size: int = 12):
    # Pillow's default font at its default size (10 px) draws a 2-pixel space: "no GPU" read "noGPU".
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size + 1)


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
        draw.line([(x0 - 5, y), (x0, y)], fill=_INK)
        draw.text((x0 - 8 - draw.textlength(f"{t:,.0f}", font=font), y - 7), f"{t:,.0f}", fill=_INK, font=font)
    draw.rectangle(box, outline=_INK)
    step = (x1 - x0) / max(1, len(labels))
    xs = [x0 + step * (i + 0.5) for i in range(len(labels))]
    small = _font(10)
    for i, (x, label) in enumerate(zip(xs, labels)):
        # Long settings (AUTOTUNE) side by side would touch: every other label goes a line lower.
        draw.text((x - draw.textlength(label, font=small) / 2, y1 + 6 + 13 * (i % 2)), label, fill=_INK, font=small)
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
        x += 40 + int(draw.textlength(name, font=_font()))


def sweep_chart(sweep: dict, path: str) -> str:
    """Writes the sweep as a PNG: one panel per dimension, reader and model images/s against the setting."""
    dims = list(dict.fromkeys(r["dimension"] for r in sweep["rows"]))
    keys = {"reader": "reader_images_per_s", "model (synthetic)": "synthetic_images_per_s",
            "training from tfrec": "tfrec_images_per_s"}
    values = [r[k] for r in sweep["rows"] for k in keys.values() if r[k]]
    lo, hi = 10 ** math.floor(math.log10(min(values))), 10 ** math.ceil(math.log10(max(values)))
    gpu = any(r["gpu_util_mean_pct"] is not None for r in sweep["rows"])
    width, height, pw = SWEEP_LEFT + SWEEP_PANEL * len(dims), 440, 250
    img = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(img)
    name = os.path.basename(sweep["path"].rstrip("/"))
    draw.text((20, 10), f"tfrec bench train --sweep: {sweep['model']} on {name} (images/s, log scale)", fill=_INK,
              font=_font())
    for i, dim in enumerate(dims):
        rows = [r for r in sweep["rows"] if r["dimension"] == dim]
        box = (SWEEP_LEFT - 10 + SWEEP_PANEL * i, 80, SWEEP_LEFT - 10 + SWEEP_PANEL * i + pw, 350)
        _panel(draw, box, dim, [r["setting"] for r in rows], {n: [r[k] for r in rows] for n, k in keys.items()},
               lo, hi, [r["gpu_util_mean_pct"] for r in rows] if gpu else None)
    _y_label(img, "images/s (log scale)", 8, 215)
    _legend(draw, 20, 400, list(keys) + (["GPU utilisation %"] if gpu else []))
    img.save(path)
    return path


def linear_ticks(top: float, target: int = 7) -> list[float]:
    """Ticks from 0 to at least `top`, at a round step (1, 2 or 5 times a power of ten) giving about `target`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [round(i * step, 12) for i in range(math.ceil(round(top / step, 9)) + 1)]


def _tick_label(value: float, step: float) -> str:
    decimals = max(0, math.ceil(-math.log10(step))) if step < 1 else 0
    return f"{value:,.{decimals}f}"


MODE_NAMES = {"synthetic": "synthetic", "tfrec": "tfrec", "tfrec_cached": "tfrec cached", "tutorial": "tutorial"}
_MODEL, _INPUT, _WHISKER = (214, 39, 40), (31, 119, 180), (60, 60, 60)
_BAR_W, _BAR_GAP = 90, 60


def modes_layout(result: dict) -> dict:
    """Where everything of the modes chart goes: the plot box, the y ticks (value, label) in images/s, each
    bar (median, the rounds' min and max, stall), the legend entries, the title and its subtitle."""
    modes = result["modes"]
    rounds = {m: [v for v in row.get("images_per_s_rounds") or [row["images_per_s"]] if v is not None]
              for m, row in modes.items()}
    top = max([row["images_per_s"] or 0 for row in modes.values()] + [max(r, default=0) for r in rounds.values()])
    values = linear_ticks(top)
    x0, y0 = 100, 90
    x1, y1 = x0 + (_BAR_W + _BAR_GAP) * len(modes) + _BAR_GAP // 2, y0 + 260
    scale = lambda v: y1 - v / values[-1] * (y1 - y0)  # noqa: E731
    bars = []
    for i, (name, row) in enumerate(modes.items()):
        x = x0 + _BAR_GAP // 2 + (_BAR_W + _BAR_GAP) * i
        value = row["images_per_s"] or 0
        spread = (min(rounds[name]), max(rounds[name])) if len(rounds[name]) > 1 else None
        bars.append({"name": name, "label": MODE_NAMES.get(name, name), "value": value, "stall": row["input_stall_pct"],
                     "box": (x, round(scale(value)), x + _BAR_W, y1),
                     "colour": _MODEL if name == "synthetic" else _INPUT,
                     "rounds": spread and (round(scale(spread[1])), round(scale(spread[0])))})
    several = any(b["rounds"] for b in bars)
    headline = result.get("ratios", {}).get("tfrec_vs_synthetic")
    n = max(len(r) for r in rounds.values())
    subtitle = ["1 round" if n == 1 else f"medians of {n} rounds"]
    if headline is not None:
        subtitle.append(f"tfrec / synthetic = {headline:.3f}" + (" (above 1: noise)" if headline > 1 else ""))
    if result.get("warnings"):
        w = len(result["warnings"])
        subtitle.append(f"{w} warning{'s' if w > 1 else ''}: see the report")
    title = (f"tfrec bench train: {result['model']}, batch {result['batch_size']}, augment {result['augment']}, "
             + (f"GPU {result['gpu']}" if result.get("gpu") else "no GPU (CPU only)"))
    wide = 40 + max(_font().getlength(t) for t in (title, "; ".join(subtitle)))
    return {"size": (max(x1 + 30, math.ceil(wide)), y1 + 80), "plot": (x0, y0, x1, y1), "y_label": "images/s",
            "ticks": [(v, _tick_label(v, values[1] - values[0])) for v in values], "tick_y": [scale(v) for v in values],
            "bars": bars, "legend": ["model alone (synthetic)", "training from an input"]
            + (["min-max of the rounds"] if several else []),
            "title": title, "subtitle": "; ".join(subtitle)}


def _y_label(img: Image.Image, text: str, x: int, y_mid: float) -> None:
    """Draws `text` turned a quarter left, centred on y_mid, its left edge at x."""
    font = _font()
    w = int(ImageDraw.Draw(img).textlength(text, font=font)) + 4
    label = Image.new("RGB", (w, 18), _BG)
    ImageDraw.Draw(label).text((2, 1), text, fill=_INK, font=font)
    label = label.rotate(90, expand=True)
    img.paste(label, (x, int(y_mid - label.size[1] / 2)))


def modes_chart(result: dict, path: str) -> str:
    """Writes a bar chart of the modes' images/s as a PNG: a y axis in images/s with its ticks, each bar's median
    with the rounds' min-max and its input stall, a legend, and a title that names the GPU or says "no GPU"."""
    layout = modes_layout(result)
    img = Image.new("RGB", layout["size"], _BG)
    draw = ImageDraw.Draw(img)
    font = _font()
    x0, y0, x1, y1 = layout["plot"]
    draw.text((20, 12), layout["title"], fill=_INK, font=font)
    draw.text((20, 32), layout["subtitle"], fill=_INK, font=font)
    for (value, label), y in zip(layout["ticks"], layout["tick_y"]):
        draw.line([(x0, y), (x1, y)], fill=_GRID)
        draw.line([(x0 - 5, y), (x0, y)], fill=_INK)
        draw.text((x0 - 8 - draw.textlength(label, font=font), y - 7), label, fill=_INK, font=font)
    _y_label(img, layout["y_label"], 14, (y0 + y1) / 2)
    for b in layout["bars"]:
        bx0, by0, bx1, by1 = b["box"]
        draw.rectangle(b["box"], fill=b["colour"])
        top = min(by0, b["rounds"][0]) if b["rounds"] else by0
        if b["rounds"]:
            mid, (hi, lo) = (bx0 + bx1) // 2, b["rounds"]
            draw.line([(mid, hi), (mid, lo)], fill=_WHISKER, width=2)
            for y in (hi, lo):
                draw.line([(mid - 8, y), (mid + 8, y)], fill=_WHISKER, width=2)
        draw.text((bx0, top - 34), f"{b['value']:,.0f}/s", fill=_INK, font=font)
        draw.text((bx0, top - 18), f"stall {b['stall']:.1f}%", fill=_INK, font=font)
        draw.text(((bx0 + bx1 - draw.textlength(b["label"], font=font)) / 2, y1 + 8), b["label"], fill=_INK, font=font)
    draw.line([(x0, y0), (x0, y1)], fill=_INK, width=2)
    draw.line([(x0, y1), (x1, y1)], fill=_INK, width=2)
    _modes_legend(draw, x0, y1 + 40, layout["legend"])
    img.save(path)
    return path


def _modes_legend(draw: ImageDraw.ImageDraw, x: int, y: int, names: list[str]) -> None:
    font = _font()
    for name, colour in zip(names, (_MODEL, _INPUT, _WHISKER)):
        if name.startswith("min-max"):
            draw.line([(x + 7, y), (x + 7, y + 14)], fill=colour, width=2)
            draw.line([(x + 2, y), (x + 12, y)], fill=colour, width=2)
            draw.line([(x + 2, y + 14), (x + 12, y + 14)], fill=colour, width=2)
        else:
            draw.rectangle([x, y + 2, x + 14, y + 12], fill=colour)
        draw.text((x + 20, y), name, fill=_INK, font=font)
        x += 40 + int(draw.textlength(name, font=font))
