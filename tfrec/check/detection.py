"""Detection records (the TensorFlow Object Detection API's keys): their objects, the label map, and verify's rules.

TensorFlow-free: verify, inspect's contact sheets, the viewer and the access layer use it. A record
is a detection record when it has any `image/object/bbox/*` key or a semantic segmentation mask
(`image/segmentation/class/encoded`); foreign files too: no schema needed. The rules, checked with
NumPy over each record's lists:

- every box finite and 0 <= xmin < xmax <= 1, 0 <= ymin < ymax <= 1 (normalised, as the Object
  Detection API reads them);
- the four bbox lists equally long (N), and every per-object list that is not empty N long
  (an empty list is an absent one: the Object Detection API's decoder fills its default);
- with N > 0, classes given (`image/object/class/label` or `class/text`); labels >= 1 (1-based:
  0 is the API's background), in label_map.pbtxt when one lies beside the data, and a class/text
  that agrees with the label map's name for its id;
- instance masks (`image/object/mask`, one PNG per object) decode and are the image's size (the
  parse level reads each PNG's header, the decode level decodes it); float masks hold N x H x W
  values; a semantic mask (`image/segmentation/class/encoded`) likewise.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np

from ..codec.images import image_header
from ..errors import TfrecError

PREFIX = "image/object/"
# (ymin, xmin, ymax, xmax): the order of the Object Detection API's boxes tensors.
BOX_KEYS = ("image/object/bbox/ymin", "image/object/bbox/xmin", "image/object/bbox/ymax", "image/object/bbox/xmax")
LABEL_KEY = "image/object/class/label"
TEXT_KEY = "image/object/class/text"
MASK_KEY = "image/object/mask"
SEGMENTATION_KEY = "image/segmentation/class/encoded"
IMAGE_KEY = "image/encoded"
# Per-object lists of the Object Detection API (tf_example_decoder.py): one value per object when present.
PER_OBJECT_KEYS = (LABEL_KEY, TEXT_KEY, "image/object/is_crowd", "image/object/difficult", "image/object/truncated",
                   "image/object/area", "image/object/view", "image/object/group_of", "image/object/weight",
                   "image/object/track/label", "image/object/class/confidence")
LABEL_MAP = "label_map.pbtxt"
_AXES = ("ymin", "xmin", "ymax", "xmax")


@dataclass(frozen=True)
class Objects:
    """One record's objects: boxes [N, 4] float32 (ymin, xmin, ymax, xmax, normalised), classes [N] int64
    (0 where the record gives none), class texts, PNG masks (empty when none), the image's stored size."""

    boxes: np.ndarray
    classes: np.ndarray
    texts: tuple[str, ...]
    masks: tuple[bytes, ...]
    height: int | None
    width: int | None

    def __len__(self) -> int:
        return len(self.boxes)


def is_detection(example: dict[str, tuple[str, list]]) -> bool:
    """Whether a decoded Example uses the Object Detection API's box keys (or its semantic segmentation mask)."""
    return any(k in example for k in BOX_KEYS) or SEGMENTATION_KEY in example


def _values(example: dict, key: str) -> list:
    return example.get(key, ("", []))[1]


def _scalar(example: dict, key: str) -> int | None:
    v = _values(example, key)
    return int(v[0]) if len(v) == 1 and isinstance(v[0], (int, np.integer)) else None


def objects_of(example: dict[str, tuple[str, list]]) -> Objects:
    """The objects of a decoded detection Example; lists of unequal length are cut to the shortest box list."""
    cols = [np.asarray(_values(example, k), np.float32) for k in BOX_KEYS]
    n = min(len(c) for c in cols)
    boxes = np.stack([c[:n] for c in cols], axis=1) if n else np.zeros((0, 4), np.float32)
    labels = _values(example, LABEL_KEY)
    classes = np.zeros(n, np.int64)
    classes[: min(n, len(labels))] = labels[:n] if labels and isinstance(labels[0], (int, np.integer)) else 0
    texts = tuple(bytes(t).decode("utf-8", "replace") for t in _values(example, TEXT_KEY)[:n])
    masks = _values(example, MASK_KEY)
    masks = tuple(bytes(m) for m in masks[:n]) if masks and isinstance(masks[0], (bytes, bytearray, memoryview)) else ()
    return Objects(boxes, classes, texts, masks, _scalar(example, "image/height"), _scalar(example, "image/width"))


# ---------------------------------------------------------------- label_map.pbtxt

_TOKEN = re.compile(r"\s*(?:#[^\n]*|(\{)|(\})|([A-Za-z_][\w]*)\s*:?|\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'|"
                    r"(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))")


def _tokens(text: str, path: str):
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            line = text.count("\n", 0, pos) + 1
            raise TfrecError(f"{path}: line {line}: cannot read {text[pos:pos + 20]!r} (expected the Object Detection "
                             "API's label map: item {{ id: 1 name: 'cat' }})")
        pos = m.end()
        opening, closing, name, dq, sq, number = m.groups()
        if opening or closing or name or number is not None or dq is not None or sq is not None:
            yield ("{" if opening else "}" if closing else "name" if name else "number" if number is not None
                   else "string"), (name or number or (dq if dq is not None else sq) or "")


def _block(tokens, path: str, depth: int = 0) -> list[tuple[str, object]]:
    fields = []
    for kind, value in tokens:
        if kind == "}":
            if depth == 0:
                raise TfrecError(f"{path}: an unmatched '}}'")
            return fields
        if kind != "name":
            raise TfrecError(f"{path}: expected a field name, found {value!r}")
        kind2, value2 = next(tokens, ("end", ""))
        if kind2 == "{":
            fields.append((value, _block(tokens, path, depth + 1)))
        elif kind2 in ("string", "number", "name"):
            fields.append((value, value2))
        else:
            raise TfrecError(f"{path}: field {value!r} has no value")
    if depth:
        raise TfrecError(f"{path}: a block is not closed ('}}' missing at the end)")
    return fields


def read_label_map(path: str) -> dict[int, str]:
    """id -> name of an Object Detection API label map (`item { id: 1 name: 'cat' }`; display_name when no name).

    Raises:
        TfrecError: the file cannot be read or parsed, an item without an id or name, an id < 1, an id twice.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise TfrecError(f"{path}: cannot read the label map ({e})") from e
    out: dict[int, str] = {}
    for key, body in _block(_tokens(text, path), path):
        if key != "item" or not isinstance(body, list):
            continue
        fields = dict((k, v) for k, v in body if not isinstance(v, list))
        name = fields.get("name", fields.get("display_name"))
        try:
            ident = int(fields["id"])
        except (KeyError, ValueError) as e:
            raise TfrecError(f"{path}: item {name!r} has no integer id") from e
        if name is None:
            raise TfrecError(f"{path}: item with id {ident} has no name")
        if ident < 1:
            raise TfrecError(f"{path}: item {name!r} has id {ident}; ids are 1-based (0 is the Object Detection "
                             "API's background class)")
        if ident in out:
            raise TfrecError(f"{path}: id {ident} twice ({out[ident]!r} and {name!r})")
        out[ident] = str(name)
    return out


def label_map_pbtxt(names: dict[int, str]) -> str:
    """The label map text, one field a line, as the Object Detection API writes it."""
    quoted = {i: n.replace("\\", "\\\\").replace("'", "\\'") for i, n in names.items()}
    return "".join(f"item {{\n  id: {i}\n  name: '{quoted[i]}'\n}}\n" for i in sorted(names))


def label_map_beside(path: str) -> str | None:
    """The label_map.pbtxt in a dataset directory, or beside a TFRecord file; None when there is none."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    candidate = os.path.join(folder, LABEL_MAP)
    return candidate if os.path.isfile(candidate) else None


# ---------------------------------------------------------------- the checks


def _fmt(v: float) -> str:
    return f"{float(v):.6g}"


def _box_problem(boxes: np.ndarray) -> str:
    """Why boxes [4, N] (ymin, xmin, ymax, xmax rows) break 0 <= min < max <= 1, naming the first bad object; or ''."""
    finite = np.isfinite(boxes).all(axis=0)
    inside = finite & (boxes >= 0).all(axis=0) & (boxes <= 1).all(axis=0)
    ordered = inside & (boxes[0] < boxes[2]) & (boxes[1] < boxes[3])
    if ordered.all():
        return ""
    k = int(np.argmin(ordered))
    b = boxes[:, k]
    if not finite[k]:
        what = f"{', '.join(f'{a} {_fmt(v)}' for a, v in zip(_AXES, b) if not np.isfinite(v))} not finite"
    elif not inside[k]:
        bad = [f"{a} {_fmt(v)} {'< 0' if v < 0 else '> 1'}" for a, v in zip(_AXES, b) if not 0 <= v <= 1]
        what = ", ".join(bad) + " (boxes are normalised to [0, 1])"
    else:
        bad = [f"{lo} {_fmt(b[i])} >= {hi} {_fmt(b[i + 2])}" for i, (lo, hi) in enumerate((("ymin", "ymax"),
                                                                                           ("xmin", "xmax")))
               if b[i] >= b[i + 2]]
        what = ", ".join(bad) + " (an empty box)"
    count = int((~ordered).sum())
    more = f" ({count} of {boxes.shape[1]} boxes bad)" if count > 1 else ""
    return f"box of object {k}: {what}{more}"


def _length_problems(example: dict, n: int) -> list[str]:
    lengths = {k: len(_values(example, k)) for k in BOX_KEYS}
    if len(set(lengths.values())) > 1:
        return ["bbox lists of unequal length: " + ", ".join(f"{k.rsplit('/', 1)[1]} {v}" for k, v in lengths.items())]
    out = [f"{k} has {len(_values(example, k))} values; image/object/bbox/xmin has {n}"
           for k in PER_OBJECT_KEYS + (MASK_KEY,)
           if k in example and _values(example, k) and len(_values(example, k)) != n
           and not (k == MASK_KEY and example[k][0] == "float")]
    if n and not _values(example, LABEL_KEY) and not _values(example, TEXT_KEY):
        out.append(f"{n} objects without classes (no {LABEL_KEY} or {TEXT_KEY})")
    return out


def _label_problems(example: dict, labels: dict[int, str] | None, n: int) -> list[str]:
    values = _values(example, LABEL_KEY)
    if not values:
        return []
    ids = np.asarray(values, np.int64)
    low = ids < 1
    if low.any():
        k = int(np.argmax(low))
        return [f"class/label {ids[k]} of object {k}: ids are 1-based (0 is the Object Detection API's background)"]
    if labels is None:
        return []
    known = np.isin(ids, np.fromiter(labels, np.int64, len(labels)))
    if not known.all():
        k = int(np.argmin(known))
        span = f"ids {min(labels)}-{max(labels)}" if labels else "no ids"
        return [f"class/label {ids[k]} of object {k} is not in {LABEL_MAP} ({len(labels)} classes, {span})"]
    texts = _values(example, TEXT_KEY)
    for k, (i, t) in enumerate(zip(ids.tolist(), texts)):
        text = bytes(t).decode("utf-8", "replace")
        if text != labels[i]:
            return [f"object {k}: class/text {text!r} but {LABEL_MAP} names id {i} {labels[i]!r}"]
    return []


def image_size_of(example: dict) -> tuple[int, int] | None:
    """(height, width): image/height and image/width, else the encoded image's header; None if neither."""
    h, w = _scalar(example, "image/height"), _scalar(example, "image/width")
    if h and w:
        return h, w
    encoded = _values(example, IMAGE_KEY)
    shape = image_header(bytes(encoded[0])) if encoded else None
    return (shape[0], shape[1]) if shape else None


def _png_size(value: bytes, decode: bool) -> tuple[tuple[int, int] | None, str]:
    """(height, width) of an encoded mask and '' or (None, why it does not decode)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(value)) as img:
                if decode:
                    img.load()
                return (img.size[1], img.size[0]), ""
    except Exception as e:  # noqa: BLE001  Pillow raises many types on bad data; none may escape
        return None, f"{type(e).__name__}: {e}"


def _mask_problems(example: dict, n: int, decode: bool) -> list[str]:
    kind, masks = example.get(MASK_KEY, ("", []))
    seg = _values(example, SEGMENTATION_KEY)
    if not masks and not seg:
        return []
    size = image_size_of(example)
    if kind == "float":
        if size and len(masks) != n * size[0] * size[1]:
            return [f"{MASK_KEY} holds {len(masks)} floats; {n} objects of {size[0]}x{size[1]} need "
                    f"{n * size[0] * size[1]}"]
        return []
    items = [(f"mask of object {k}", m) for k, m in enumerate(masks)] + [("segmentation mask", m) for m in seg[:1]]
    for what, value in items:
        got, why = _png_size(bytes(value), decode)
        if got is None:
            return [f"{what} does not decode ({why})"]
        if size and got != size:
            return [f"{what} is {got[0]}x{got[1]} (HxW); the image is {size[0]}x{size[1]}"]
    return []


def detection_problems(example: dict[str, tuple[str, list]], labels: dict[int, str] | None = None,
                       decode: bool = False) -> list[str]:
    """Why a decoded detection Example breaks the rules (see the module docstring); [] when it keeps them.

    Args:
        example: a decoded Example (codec.example.decode_example).
        labels: the label map (id -> name) beside the data, or None when there is none.
        decode: decode every mask (verify's decode level), not only its header.
    """
    out = _length_problems(example, len(_values(example, BOX_KEYS[1])))
    if out and out[0].startswith("bbox lists"):
        return out
    n = len(_values(example, BOX_KEYS[1]))
    if n:
        problem = _box_problem(np.array([_values(example, k) for k in BOX_KEYS], np.float64))
        out += [problem] if problem else []
    out += _label_problems(example, labels, n)
    if not any(p.startswith(MASK_KEY) for p in out):
        out += _mask_problems(example, n, decode)
    return out


# ---------------------------------------------------------------- pictures (inspect's contact sheets, the viewer)

# Distinct, bright colours for class ids (id % len): boxes and masks of one class share one.
PALETTE = ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255))
MASK_ALPHA = 0.45


def class_name(objects: Objects, k: int, labels: dict[int, str] | None) -> str:
    """Object k's class as a person reads it: the label map's name, else class/text, else the id."""
    ident = int(objects.classes[k]) if k < len(objects.classes) else 0
    if labels and ident in labels:
        return labels[ident]
    return objects.texts[k] if k < len(objects.texts) and objects.texts[k] else str(ident)


def draw_objects(img, objects: Objects, labels: dict[int, str] | None = None, masks: bool = True):
    """A copy of a Pillow image with the objects' masks tinted, their boxes outlined and their class names
    written at each box's corner (in the class's colour). Boxes are normalised, so any size of the image works;
    a mask that does not decode is skipped (verify names it)."""
    from PIL import Image, ImageDraw

    out = img.convert("RGB")
    w, h = out.size
    if masks and objects.masks:
        pixels = np.asarray(out, np.float32)
        for k, value in enumerate(objects.masks):
            got, _ = _png_size(value, True)
            if got is None:
                continue
            with Image.open(io.BytesIO(value)) as m:
                mask = np.asarray(m.convert("L").resize((w, h), Image.Resampling.NEAREST)) > 0
            colour = np.array(PALETTE[int(objects.classes[k]) % len(PALETTE)], np.float32)
            pixels[mask] = pixels[mask] * (1 - MASK_ALPHA) + colour * MASK_ALPHA
        out = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(out)
    width = max(1, round(max(w, h) / 160))
    for k, (y0, x0, y1, x1) in enumerate(np.nan_to_num(objects.boxes).tolist()):
        colour = PALETTE[int(objects.classes[k]) % len(PALETTE)]
        box = [x0 * w, y0 * h, max(x1 * w, x0 * w), max(y1 * h, y0 * h)]
        draw.rectangle(box, outline=colour, width=width)
        name = class_name(objects, k, labels)
        tw = draw.textlength(name)
        top = box[1] - 11 if box[1] >= 11 else box[1]
        draw.rectangle([box[0], top, box[0] + tw + 3, top + 11], fill=colour)
        draw.text((box[0] + 2, top), name, fill=(0, 0, 0))
    return out


def caption_of(objects: Objects, labels: dict[int, str] | None = None) -> str:
    """A short caption: the number of objects and their classes ('3: cat, dog x2')."""
    if not len(objects):
        return "0 objects"
    names = [class_name(objects, k, labels) for k in range(len(objects))]
    counts = {n: names.count(n) for n in dict.fromkeys(names)}
    return f"{len(objects)}: " + ", ".join(n if c == 1 else f"{n} x{c}" for n, c in counts.items())
