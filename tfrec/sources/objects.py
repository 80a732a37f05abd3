"""Object annotations of the detection sources (COCO, VOC, YOLO, CSV): the picklable per-image model, the
write-time box rule (clip a small overhang, reject the rest), the label map, and the report of what was changed.

The box rule, applied in the stored (upright) image's pixel frame of size W x H:
  - a box with a coordinate that is not a finite number is rejected ('non-finite');
  - a box that overhangs the image by more than OVERHANG of that side (an edge left of -0.02 W or right of
    1.02 W, likewise for y) is rejected ('outside the image');
  - a box that overhangs by at most that much is clipped to the image (counted as 'clipped');
  - a box with zero or negative width or height after clipping is rejected ('degenerate');
  - crowd (COCO iscrowd) and difficult (VOC) objects are kept and flagged, never dropped.
Every clip and rejection is an event: counted by reason and listed by file in dataset.json and the summary.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, NamedTuple, Sequence

# A box may overhang the image by this fraction of the side and still be kept (clipped); more is rejected.
OVERHANG = 0.02
# Events (clips, rejections, rotations, size disagreements) listed one by one in dataset.json; then a count.
MAX_LISTED_EVENTS = 100
# The tasks a detection-layout source can write, and the schema each writes by default.
TASKS = ("detection", "instance_segmentation", "semantic_segmentation", "multi_label")
LABEL_MAP = "label_map.pbtxt"

CLIPPED, DROPPED, ROTATED, SIZE = "clipped", "dropped", "rotated", "size"
NON_FINITE = "non-finite coordinates"
OUTSIDE = f"outside the image by more than {OVERHANG:.0%} of its side"
DEGENERATE = "degenerate: zero or negative width or height after clipping"
NO_BOX = "no box"


class Obj(NamedTuple):
    """One annotated object: its box (x0, y0, x1, y1) in pixels, or in [0, 1] when the image's `units` say so.

    A NamedTuple, not a dataclass: a COCO val set has ~36,000 of them, made in the reader and pickled to
    the workers; a tuple is cheaper to build and to send.
    """

    box: tuple[float, float, float, float] | None  # None: the annotation has no usable box
    label: int  # 1-based, as in the label map
    text: str
    is_crowd: int = 0
    area: float | None = None  # the source's area in pixels (COCO), else the box's
    difficult: int = 0
    truncated: int = 0
    view: str = ""
    segmentation: Any = None  # COCO: a list of polygons, or an RLE dict (counts list or compressed string)


class ImageAnnotation(NamedTuple):
    """What the annotations say about one image; made in the reader, carried to the worker that writes it."""

    filename: str  # as the annotations name it (COCO's file_name as given); stored as image/filename
    source_id: str
    width: int | None  # the annotation's image size, checked against the decoded size
    height: int | None
    objects: tuple[Obj, ...] = ()
    units: str = "pixels"  # or 'normalised' (YOLO)
    labels: tuple[int, ...] = ()  # multi-label: 0-based class ids of the image
    label_texts: tuple[str, ...] = ()  # multi-label: their names


def event(path: str, kind: str, reason: str, obj: int | None = None, **extra: Any) -> dict:
    """One annotation event, carried with the skipped files (its `event` key tells them apart)."""
    out = {"path": path, "reason": reason, "event": kind}
    if obj is not None:
        out["object"] = obj
    out.update(extra)
    return out


def check_box(box: Sequence[float], width: int, height: int) -> tuple[tuple[float, float, float, float] | None, str]:
    """The box rule on one pixel box: (box, '') kept as is, (clipped box, CLIPPED) or (None, why it is rejected).

    Plain Python: a detection image has a handful of boxes, where NumPy's per-call cost was the larger part.
    """
    x0, y0, x1, y1 = box
    if not (math.isfinite(x0) and math.isfinite(y0) and math.isfinite(x1) and math.isfinite(y1)):
        return None, NON_FINITE
    mx, my = OVERHANG * width, OVERHANG * height
    if x0 < -mx or y0 < -my or x1 > width + mx or y1 > height + my:
        return None, OUTSIDE
    if 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height:
        return (x0, y0, x1, y1), ""  # the common case: inside the image, nothing to clip
    cx0, cy0 = min(max(x0, 0.0), width), min(max(y0, 0.0), height)
    cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
    if cx1 <= cx0 or cy1 <= cy0:
        return None, DEGENERATE
    return (cx0, cy0, cx1, cy1), CLIPPED if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1) else ""


def label_map_text(names: Sequence[str]) -> str:
    """label_map.pbtxt in the Object Detection API's format: ids 1-based in the order of `names`, one field a line."""
    out = []
    for i, name in enumerate(names, start=1):
        quoted = name.replace("\\", "\\\\").replace("'", "\\'")
        out.append(f"item {{\n  id: {i}\n  name: '{quoted}'\n}}\n")
    return "".join(out)


def summarise_events(events: Iterable[dict]) -> dict:
    """dataset.json's `annotations` entry: counts by kind and reason, and the first MAX_LISTED_EVENTS events."""
    counts: dict[str, dict[str, int]] = {CLIPPED: {}, DROPPED: {}, ROTATED: {}, SIZE: {}}
    listed, total = [], 0
    for e in events:
        by = counts.setdefault(e["event"], {})
        by[e["reason"]] = by.get(e["reason"], 0) + 1
        total += 1
        if len(listed) < MAX_LISTED_EVENTS:
            listed.append({k: v for k, v in e.items()})
    return {
        "boxes_clipped": sum(counts[CLIPPED].values()),
        "boxes_dropped": sum(counts[DROPPED].values()),
        "images_rotated": sum(counts[ROTATED].values()),
        "size_disagreements": sum(counts[SIZE].values()),
        "dropped_by_reason": dict(sorted(counts[DROPPED].items())),
        "events": listed,
        "events_not_listed": total - len(listed),
        "rule": RULE,
    }


RULE = (f"boxes overhanging the image by at most {OVERHANG:.0%} of its side are clipped; boxes further outside, "
        "with non-finite coordinates, or of zero or negative width or height after clipping are dropped; crowd "
        "and difficult objects are kept and flagged. A JPEG with an EXIF orientation is stored upright "
        "(re-encoded) and its boxes are taken to be drawn on the upright view. An annotated image size that "
        "differs from the decoded size is reported, and the boxes are normalised by the decoded size.")
