"""`tfrec inspect --html`: one self-contained HTML file (images inlined) to attach to an issue or a pull request.

It holds the viewer's dataset page for each input (splits, shards, schema, label histogram, image
formats and a size chart) and a sample grid per class. Its size is bounded: at most
`samples_per_class` thumbnails for each of at most MAX_CLASSES classes, found among the first
`scan_records` records of each input.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from ..check import InspectReport
from ..errors import TfrecError
from . import pages
from .source import DatasetView, NO_LABEL
from .thumbs import THUMB_PIXELS, Thumbnails

MAX_CLASSES = 100  # classes with a sample row; more are counted in one line
REPORT_THUMB_PIXELS = 96  # smaller than the gallery's: a report of 100 classes x 4 samples stays ~1-2 MB


@dataclass(frozen=True)
class HtmlReport:
    """Where the report was written and what it holds."""

    path: str
    bytes: int
    images: int

    def to_json(self) -> dict:
        return {"path": self.path, "bytes": self.bytes, "images": self.images}


def write_html_report(report: InspectReport, path: str, samples_per_class: int = 4, scan_records: int = 5000) -> HtmlReport:
    """Writes an InspectReport as one self-contained HTML file with per-class sample images.

    Args:
        report: what `tfrec.inspect` returned.
        path: the .html file to write (written under a temporary name, then renamed).
        samples_per_class: thumbnails per class (per input without labels: this many times 8).
        scan_records: records read per input to find the samples.

    Raises:
        TfrecError: the file cannot be written.
    """
    body, images = [], 0
    title = ", ".join(str(s.get("name") or s.get("path") or "TFRecord files") for s in report.sections)
    for section in report.sections:
        if len(report.sections) > 1:
            body.append(f"<h2>{pages.esc(section.get('name') or section.get('path') or 'TFRecord files')}</h2>")
        body.append(pages.section_html(section))
        grid, n = _samples_html(section, samples_per_class, scan_records)
        body.append(grid)
        images += n
    body.append(pages.problems_html([str(p) for p in report.problems]))
    text = pages.layout(f"{title}: tfrec inspect", "".join(body), f"tfrec inspect: {title}", nav=False)
    data = text.encode("utf-8")
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        raise TfrecError(f"{path}: cannot write the report: {e.strerror or e}") from e
    return HtmlReport(str(path), len(data), images)


def _samples_html(section: dict, per_class: int, scan_records: int) -> tuple[str, int]:
    """The sample grid: up to per_class thumbnails per class (or the first records, without labels), inlined."""
    paths = [section["path"]] if section["kind"] == "dataset" else [f["file"] for f in section["files"]]
    try:
        view = DatasetView(paths)
    except TfrecError as e:
        return f"<p class=warn>no samples: {pages.esc(e)}</p>", 0
    if view.image is None:
        return "<p>no image feature: no sample images</p>", 0
    thumbs = Thumbnails(view, max_bytes=None)
    chosen: dict[int, list] = {}
    want = per_class if view.label is not None else per_class * 8
    seen = 0
    for shard in view.shards:
        for index in range(view.count(shard.id)):
            if seen >= scan_records or _full(view, chosen, want):
                break
            seen += 1
            try:
                label = view.label_of(view.example(shard.id, index)[1])
            except TfrecError:
                label = None  # a damaged record: its card says why
            key = NO_LABEL if label is None else label
            if len(chosen.get(key, ())) < want and (key in chosen or len(chosen) < MAX_CLASSES):
                chosen.setdefault(key, []).append(thumbs.card(shard.id, index))
    rows, count = [], 0
    for key in sorted(chosen)[:MAX_CLASSES]:
        cells = "".join(_inline_card(view, c) for c in chosen[key])
        count += len(chosen[key])
        name = view.class_name(key) if key != NO_LABEL else ("no label" if view.label is not None else "")
        rows.append(f"<h4>{pages.esc(name)}</h4><div class=grid>{cells}</div>" if name else f"<div class=grid>{cells}</div>")
    more = f"<p>{len(chosen) - MAX_CLASSES:,} more classes not shown</p>" if len(chosen) > MAX_CLASSES else ""
    head = f"<h3>samples ({'per class, ' if view.label is not None else ''}from the first {seen:,} records)</h3>"
    return f"<div class=samples>{head}{''.join(rows)}{more}</div>", count


def _full(view: DatasetView, chosen: dict, want: int) -> bool:
    """Every class (all the schema names, or the one unlabelled row) has its samples."""
    classes = len(view.class_names) if view.label is not None else 1
    return bool(classes) and len(chosen) >= min(classes, MAX_CLASSES) and all(len(r) >= want for r in chosen.values())


def _inline_card(view: DatasetView, card) -> str:
    body, ctype = card.body, card.content_type
    if not card.reason and THUMB_PIXELS > REPORT_THUMB_PIXELS:
        body, ctype = _smaller(body)
    src = f"data:{ctype};base64,{base64.b64encode(body).decode('ascii')}"
    caption = pages.esc(f"{view.shards[card.shard].name} #{card.index}")
    bad = f"<span class='cap bad'>{pages.esc(card.reason)}</span>" if card.reason else ""
    return f"<span class=card><img src='{src}' alt='{caption}'><span class=cap>#{card.index}</span>{bad}</span>"


def _smaller(body: bytes) -> tuple[bytes, str]:
    import io

    from PIL import Image

    from .thumbs import encode_picture

    with Image.open(io.BytesIO(body)) as img:
        img.load()
        big = max(img.size) > REPORT_THUMB_PIXELS
        if big:
            img.thumbnail((REPORT_THUMB_PIXELS, REPORT_THUMB_PIXELS))
        return encode_picture(img, prefer_jpeg=big and img.mode == "RGB")
