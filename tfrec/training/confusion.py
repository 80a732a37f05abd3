"""The confusion-matrix picture: class names on both axes, a colour bar, counts in a colour that contrasts with their cell."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

# A sequential scale from near white to dark blue (the stops of ColorBrewer's "Blues"): one hue, so
# darker always means a larger share, in print and for colour-blind readers alike.
SCALE = ((247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107))
DARK_LUMINANCE = 128  # counts are white on cells darker than this, black on lighter ones
MAX_NAME_CHARS = 16
PAD = 8


@dataclass(frozen=True)
class ConfusionPicture:
    """Where draw_confusion put things: what the axes say, the grid's origin and cell size, the colour bar."""

    path: str
    size: tuple[int, int]  # (width, height) in pixels
    row_title: str
    column_title: str
    row_labels: tuple[str, ...]
    column_labels: tuple[str, ...]
    origin: tuple[int, int]  # the grid's top-left corner (x, y)
    cell: int  # a cell's side in pixels
    colour_bar_box: tuple[int, int, int, int]  # (left, top, right, bottom), 100% at the top
    colour_bar_ticks: tuple[str, ...]  # from 0% up

    def cell_box(self, row: int, column: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of the cell of true class `row` and predicted class `column`."""
        x, y = self.origin[0] + column * self.cell, self.origin[1] + row * self.cell
        return x, y, x + self.cell, y + self.cell


def scale_colour(share: float) -> tuple[int, int, int]:
    """The colour of a share in [0, 1] on SCALE (linear between its stops)."""
    pos = min(max(share, 0.0), 1.0) * (len(SCALE) - 1)
    i = min(int(pos), len(SCALE) - 2)
    t = pos - i
    return tuple(round(a + (b - a) * t) for a, b in zip(SCALE[i], SCALE[i + 1]))


def text_colour(fill: tuple[int, int, int]) -> str:
    """White on a dark fill, black on a light one (by relative luminance, Rec. 709 weights)."""
    r, g, b = fill
    return "white" if 0.2126 * r + 0.7152 * g + 0.0722 * b < DARK_LUMINANCE else "black"


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # a scalable font (Pillow 10.1+ with FreeType)
    except (TypeError, AttributeError, OSError):
        return ImageFont.load_default()


def _text_size(draw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def _paste_vertical(img, xy: tuple[int, int], text: str, font, fill: str = "black") -> None:
    """Draws `text` reading bottom to top with its top-left corner at xy."""
    from PIL import Image, ImageDraw

    probe = ImageDraw.Draw(img)
    w, h = _text_size(probe, text, font)
    left, top = probe.textbbox((0, 0), text, font=font)[:2]
    mask = Image.new("L", (w + 2, h + 2), 0)
    ImageDraw.Draw(mask).text((1 - left, 1 - top), text, fill=255, font=font)
    mask = mask.rotate(90, expand=True)
    img.paste(Image.new("RGB", mask.size, fill), xy, mask)


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "…"


def draw_confusion(confusion: list[list[int]], names: list[str], path: str) -> ConfusionPicture:
    """Writes the confusion matrix as a PNG: true classes down the left (rows), predicted classes along the
    top (columns), both named and titled; each cell coloured by its share of the true class (so rare
    classes show too), with a colour bar for that scale, and its count in white or black, whichever
    contrasts with the cell. The PNG's Description text says the same in words.

    Returns:
        A ConfusionPicture: where the axes, cells and colour bar are.
    """
    from PIL import Image, ImageDraw
    from PIL.PngImagePlugin import PngInfo

    m = np.asarray(confusion, np.int64).reshape(len(confusion), -1)
    k = len(m)
    labels = tuple(_short(names[i]) if i < len(names) else str(i) for i in range(k))
    cell = max(14, min(48, 960 // max(k, 1)))
    font, count_font = _font(max(9, min(13, cell - 4))), _font(max(8, min(14, cell // 3)))
    title_font = _font(13)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max(_text_size(probe, s, font)[0] for s in labels)
    title_h = _text_size(probe, "predicted class", title_font)[1]
    left = PAD + title_h + PAD + label_w + PAD  # row title (vertical), row labels, gap
    top = PAD + title_h + PAD + label_w + PAD  # column title, column labels (vertical), gap
    bar_w, tick_w = 16, _text_size(probe, "100%", font)[0]
    grid = k * cell
    width = left + grid + 2 * PAD + bar_w + 4 + tick_w + PAD + title_h + PAD
    height = top + max(grid, 120) + PAD
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)

    shares = m / np.maximum(m.sum(1, keepdims=True), 1)
    for i in range(k):
        for j in range(k):
            x, y = left + j * cell, top + i * cell
            fill = scale_colour(float(shares[i, j]))
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=fill, outline=(200, 200, 200))
            if m[i, j] and cell >= 18:
                text = str(int(m[i, j]))
                if _text_size(draw, text, count_font)[0] <= cell - 4:  # a count that does not fit is left out
                    draw.text((x + cell / 2, y + cell / 2), text, fill=text_colour(fill), font=count_font, anchor="mm")
    for i, name in enumerate(labels):
        draw.text((left - PAD, top + i * cell + cell / 2), name, fill="black", font=font, anchor="rm")
        w, h = _text_size(draw, name, font)
        _paste_vertical(img, (left + i * cell + (cell - h) // 2 - 1, top - PAD - w - 2), name, font)
    draw.text((left + grid / 2, PAD), "predicted class", fill="black", font=title_font, anchor="mt")
    row_title_w = _text_size(draw, "true class", title_font)[0]
    _paste_vertical(img, (PAD, top + max(0, (grid - row_title_w) // 2)), "true class", title_font)

    bar_x, bar_h = left + grid + 2 * PAD, max(grid, 120)
    for y in range(bar_h):
        draw.line([bar_x, top + y, bar_x + bar_w - 1, top + y], fill=scale_colour(1 - y / max(bar_h - 1, 1)))
    draw.rectangle([bar_x, top, bar_x + bar_w - 1, top + bar_h - 1], outline=(120, 120, 120))
    ticks = ("0%", "50%", "100%")
    for t, label in zip((1.0, 0.5, 0.0), ticks):
        y = top + t * (bar_h - 1)
        draw.line([bar_x + bar_w, y, bar_x + bar_w + 3, y], fill="black")
        draw.text((bar_x + bar_w + 5, y), label, fill="black", font=font, anchor="lm")
    bar_title = "share of the true class"
    bar_title_w = _text_size(draw, bar_title, title_font)[0]
    _paste_vertical(img, (width - PAD - title_h - 2, top + max(0, (bar_h - bar_title_w) // 2)), bar_title, title_font)

    info = PngInfo()
    info.add_text("Title", "Confusion matrix")
    info.add_text("Description", f"Confusion matrix of {k} classes. Rows: true class ({', '.join(labels)}). "
                                 f"Columns: predicted class (the same order). Cell colour: the share of the true "
                                 f"class's records, 0% (light) to 100% (dark blue); numbers: record counts.")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    img.save(path, pnginfo=info)
    return ConfusionPicture(path, img.size, "true class", "predicted class", labels, labels, (left, top), cell,
                            (bar_x, top, bar_x + bar_w, top + bar_h), ticks)
