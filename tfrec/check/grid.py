"""Contact sheets: a PNG grid of images with a caption under each (for checking conversions and augmentations)."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import TfrecError

# Tiles are scaled to at least this many pixels on their longer side (whole-number factors, so
# 28x28 digits stay crisp) and at most MAX_TILE_PIXELS; a caption band sits under each tile.
MIN_TILE_PIXELS = 64
MAX_TILE_PIXELS = 256
GAP_PIXELS = 4
CAPTION_PIXELS = 14
BACKGROUND = (40, 40, 48)
CAPTION_COLOUR = (235, 235, 235)


@dataclass(frozen=True)
class ContactSheet:
    """Where the sheet was written and its layout (tile i sits at row i // columns, column i % columns)."""

    path: str
    count: int
    columns: int
    rows: int
    tile_width: int
    tile_height: int
    width: int
    height: int

    def tile_box(self, i: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of tile i's image area in the sheet."""
        r, c = divmod(i, self.columns)
        left = GAP_PIXELS + c * (self.tile_width + GAP_PIXELS)
        top = GAP_PIXELS + r * (self.tile_height + CAPTION_PIXELS + GAP_PIXELS)
        return left, top, left + self.tile_width, top + self.tile_height

    def to_json(self) -> dict:
        return {"path": self.path, "images": self.count, "columns": self.columns, "rows": self.rows,
                "tile": [self.tile_width, self.tile_height], "size": [self.width, self.height]}


def _as_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise TfrecError(f"contact sheet: expected an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)  # e.g. float images from augmentation
    return a[:, :, :3]


def _tile_size(images: Sequence[np.ndarray]) -> tuple[int, int, float]:
    h = max(a.shape[0] for a in images)
    w = max(a.shape[1] for a in images)
    longest = max(h, w)
    if longest < MIN_TILE_PIXELS:
        scale = float(math.ceil(MIN_TILE_PIXELS / longest))
    else:
        scale = min(1.0, MAX_TILE_PIXELS / longest)
    return max(1, round(h * scale)), max(1, round(w * scale)), scale


def make_contact_sheet(images: Sequence[np.ndarray], captions: Sequence[str], path: str,
                       columns: int | None = None) -> ContactSheet:
    """Writes a PNG grid of images, each with its caption underneath.

    Args:
        images: uint8 arrays HxWxC (C = 1, 3 or 4) or HxW; sizes may differ (each is scaled to fit
            its tile, keeping its aspect ratio). Float arrays are clipped to 0..255.
        captions: one string per image (shortened to fit), or an empty sequence for none.
        path: the PNG file to write (its directory must exist).
        columns: tiles per row; default: a near-square grid.

    Returns:
        The layout written.

    Raises:
        TfrecError: no images, captions that do not match the images, or a bad image shape.
    """
    from PIL import Image, ImageDraw, ImageFont

    if not len(images):
        raise TfrecError("contact sheet: no images to show")
    if captions and len(captions) != len(images):
        raise TfrecError(f"contact sheet: {len(images)} images but {len(captions)} captions")
    rgb = [_as_rgb(a) for a in images]
    columns = max(1, min(columns or math.ceil(math.sqrt(len(rgb))), len(rgb)))
    rows = math.ceil(len(rgb) / columns)
    tile_h, tile_w, scale = _tile_size(rgb)
    width = GAP_PIXELS + columns * (tile_w + GAP_PIXELS)
    height = GAP_PIXELS + rows * (tile_h + CAPTION_PIXELS + GAP_PIXELS)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    layout = ContactSheet(str(path), len(rgb), columns, rows, tile_w, tile_h, width, height)
    for i, a in enumerate(rgb):
        left, top, right, bottom = layout.tile_box(i)
        img = Image.fromarray(a)
        fit = min(tile_w / img.width, tile_h / img.height)
        size = (max(1, round(img.width * fit)), max(1, round(img.height * fit)))
        resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.BILINEAR
        img = img.resize(size, resample) if size != img.size else img
        sheet.paste(img, (left + (tile_w - size[0]) // 2, top + (tile_h - size[1]) // 2))
        if captions:
            draw.text((left + 1, bottom + 1), _fit(draw, font, str(captions[i]), tile_w), fill=CAPTION_COLOUR, font=font)
    os.makedirs(os.path.dirname(os.path.abspath(str(path))), exist_ok=True)
    sheet.save(str(path), "PNG")
    return layout


def _fit(draw, font, text: str, width: int) -> str:
    """The caption shortened with '…' until it fits the tile width."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
