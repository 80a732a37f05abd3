"""Template check of fixed-layout Examples: many records at once with NumPy, the rest left to the decoder.

Most datasets store the same keys, kinds and value counts in every record; only the bytes of the
values differ. A record that decodes cleanly (and matches the schema) becomes a template: the
sequence of protobuf tags, key names, nested lengths and values it is made of. A record passes
the template when it is built the same way, which is checked for a whole batch of records in
lockstep with NumPy, in two tiers:

- records of the template's exact length: every structural byte (tags, lengths, key names) equal
  to the template's, and every int64 varint of the same width (its continuation bits equal), found
  by comparing a few column slices of the (records, bytes) matrix; a run of MNIST or CIFAR records
  costs a few NumPy calls per read;
- records of any length: a walk of the template's steps, each one a vector operation over the
  batch (read a length varint at each record's position, compare a key, skip a value, ...), with
  each record's own lengths; a record passes when every tag, key and nested length agrees and the
  walk ends exactly at the record's end.

A passing record decodes, as `codec.example.decode_example` would, to the template's keys, kinds
and value counts (and raw images of the template's size), so it has no parse-level problem; only
records that fail both tiers are decoded one by one, and that decoder names what is wrong. The
property that both paths report the same problems is tested on clean and damaged data
(tests/check/test_template.py).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# Steps of the walk: (op, argument).
#   window: (mask, expected): a stretch of fixed size (tags, key names, nested messages whose size
#   cannot vary: every feature but a bytes value of varying length): its bytes under the mask equal
#   `expected` (0xFF: structure; 0x80: an int64 varint byte, so its width is the template's; 0: a value);
#   value: (mask, expected, varint columns, shifts, groups, deltas): a map entry whose one bytes value varies in length: its
#   head as a window, its length varints (of the template's widths) read at once, each equal to the
#   value's length plus the template's difference, then the value; open: a length varint starts a
#   nested message (its end is pushed); close: the nested message ends here; skip: a length varint
#   and that many free bytes (a bytes value); end: the record ends here.
_VARINT_BYTES = 5  # a length needs at most 5 varint bytes (records are < 2**31 bytes)
_FREE, _STRUCT, _INT = 0, 1, 2  # byte classes of the template record, for the exact-length tier


@dataclass(frozen=True)
class Template:
    """One record layout: its bytes, each byte's class, and the steps of the walk."""

    data: np.ndarray  # uint8: the template record
    mask: np.ndarray  # uint8 per byte: 0xFF structure (must equal), 0x80 an int64 varint byte, 0 a value
    steps: tuple

    @functools.cached_property
    def words(self) -> tuple | None:
        """(byte offset, mask, expected) of the 8-byte words the exact-length tier compares (None: too short)."""
        return _words(self.data, self.mask)

    def exact(self, buf, offset: int, stride: int, count: int) -> np.ndarray:
        """Which of `count` records of the template's length, at offset + i * stride in buf, are built as it.

        Compares 8-byte words (under a mask: 0xFF for structure, 0x80 for varint bytes, 0 for
        values) at a stride, so a run of records costs a few NumPy calls per word of structure.
        """
        ok = np.ones(count, bool)
        for at, mask, want in self.words:
            word = np.ndarray((count,), "<u8", buf, offset + at, (stride,))
            ok &= (word & mask) == want
        return ok

    def walk(self, view: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Which records view[starts[i]:ends[i]] are built as the template (any length).

        Each record must have 8 bytes of view before it (its TFRecord header always does).
        """
        n = len(view)
        # every 8 bytes of buf as one little-endian word: view64[p] = bytes p..p+7 (no copy)
        view64 = np.ndarray((n - 7,), "<u8", view, 0, (1,))
        pos, ok, stack = starts.astype(np.int64), np.ones(len(starts), bool), []
        for op, arg in self.steps:
            if op == "window":
                size, offsets, mask, want = arg
                got = view64[np.minimum(pos[:, None] + offsets, n - 8)]
                ok &= ((got & mask) == want).all(1)
                pos = pos + size
            elif op in ("open", "skip"):
                value, width, good = _varints(view, pos)
                ok &= good
                pos = pos + width
                if op == "open":
                    stack.append(pos + value)
                    ok &= stack[-1] <= ends
                else:
                    pos = pos + value
            elif op == "value":  # the head of an entry, then its bytes value of any length
                size, offsets, mask, want, cols, shifts, groups, deltas = arg
                got = view64[np.minimum(pos[:, None] + offsets, n - 8)]
                ok &= ((got & mask) == want).all(1)
                digits = (view[np.minimum(pos[:, None] + cols, n - 1)] & 0x7F).astype(np.int64) << shifts
                lengths = np.add.reduceat(digits, groups, axis=1)  # every length varint of the head
                ok &= (lengths - lengths[:, -1:] == deltas).all(1)
                pos = pos + size + lengths[:, -1]
            elif op == "close":
                ok &= pos == stack.pop()
            else:  # end
                ok &= pos == ends
        return ok


def _varints(view: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, width, terminated within 5 bytes) of the length varint at each position."""
    size = _VARINT_BYTES
    raw = view[np.minimum(pos[:, None] + np.arange(size), len(view) - 1)]
    cont = raw >= 0x80
    width = np.argmin(cont, axis=1) + 1
    good = ~cont.all(1)
    digits = (raw & 0x7F).astype(np.int64) << (7 * np.arange(size, dtype=np.int64))
    value = np.where(np.arange(size) < width[:, None], digits, 0).sum(1)
    return value, width, good


# ---------------------------------------------------------------- building a template


class _NotPlain(Exception):
    """The record uses protobuf features the template does not model (unknown fields, long tags)."""


class _Builder:
    """Walks one serialized Example, recording its steps and classifying its bytes."""

    def __init__(self, data: bytes, raw_sizes: dict[str, int]):
        self.data, self.raw_sizes = data, raw_sizes
        self.classes = np.full(len(data), _STRUCT, np.uint8)
        self.steps: list = []
        self.pos = 0

    def const(self, n: int) -> None:
        chunk = self.data[self.pos : self.pos + n]
        if self.steps and self.steps[-1][0] == "const" and self.steps[-1][3] == self.pos:
            op, arg, start, _ = self.steps[-1]
            self.steps[-1] = (op, arg + chunk, start, self.pos + n)
        else:
            self.steps.append(("const", chunk, self.pos, self.pos + n))
        self.pos += n

    def step(self, op: str, arg=None) -> None:
        self.steps.append((op, arg, self.pos, None))

    def tag(self, *allowed: int) -> int:
        if self.pos >= len(self.data) or self.data[self.pos] not in allowed:
            raise _NotPlain
        t = self.data[self.pos]
        self.const(1)
        return t

    def varint(self) -> tuple[int, int]:
        value = shift = 0
        for i in range(_VARINT_BYTES):
            if self.pos + i >= len(self.data):
                break
            b = self.data[self.pos + i]
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return value, i + 1
        raise _NotPlain

    def open(self, op: str = "open") -> int:
        value, width = self.varint()
        self.step(op)
        self.pos += width
        end = self.pos + value
        if end > len(self.data):
            raise _NotPlain
        return end

    def free(self, n: int, cls: int = _FREE) -> None:
        self.classes[self.pos : self.pos + n] = cls
        self.pos += n

    def example(self) -> None:
        self.tag(0x0A)
        end = self.open()
        while self.pos < end:
            self.entry()
        if self.pos != end or end != len(self.data):
            raise _NotPlain
        self.step("close")
        self.step("end")

    def entry(self) -> None:
        self.tag(0x0A)
        end = self.open()
        self.tag(0x0A)  # the key: its length and name are constant
        length, width = self.varint()
        name = self.data[self.pos + width : self.pos + width + length]
        self.const(width + length)
        self.tag(0x12)
        feature_end = self.open()
        if self.pos < feature_end:
            kind = self.tag(0x0A, 0x12, 0x1A)  # bytes_list, float_list, int64_list
            list_end = self.open()
            self.values(kind, list_end, name.decode("utf-8", "replace"))
            if self.pos != list_end:
                raise _NotPlain
            self.step("close")
        if self.pos != feature_end or feature_end != end:
            raise _NotPlain  # anything else in a Feature or a map entry: left to the decoder
        self.step("close")
        self.step("close")

    def values(self, kind: int, end: int, name: str) -> None:
        while self.pos < end:
            if kind == 0x0A:  # bytes: a raw image's length is constant, others free
                self.tag(0x0A)
                length, width = self.varint()
                if name in self.raw_sizes:
                    self.const(width)
                else:
                    self.step("skip", None)
                    self.pos += width
                self.free(length)
            elif kind == 0x12:  # floats: packed (a constant length) or one by one
                if self.tag(0x0A, 0x0D) == 0x0D:
                    self.free(4)
                    continue
                length, width = self.varint()
                if length % 4:
                    raise _NotPlain
                self.const(width)
                self.free(length)
            else:  # int64s: packed, or one by one (wire type 0)
                if self.tag(0x0A, 0x08) == 0x08:
                    self.free(self._varint_width(), _INT)
                    continue
                length, width = self.varint()
                body = np.frombuffer(self.data, np.uint8, length, self.pos + width)
                if length == 0 or body[-1] >= 0x80 or np.diff(np.flatnonzero(body < 0x80), prepend=-1).max() > 10:
                    raise _NotPlain  # not whole varints of up to 10 bytes
                self.const(width)
                self.free(length, _INT)

    def _varint_width(self) -> int:
        for i in range(10):
            if self.pos + i < len(self.data) and self.data[self.pos + i] < 0x80:
                return i + 1
        raise _NotPlain


def build_template(data: bytes, raw_sizes: dict[str, int]) -> Template | None:
    """The template of a record that decoded cleanly, or None if its layout is not one the walk models.

    Args:
        data: the serialized Example.
        raw_sizes: name -> byte size of each raw image feature (their value lengths are fixed).
    """
    b = _Builder(bytes(data), raw_sizes)
    try:
        b.example()
    except _NotPlain:
        return None
    arr, mask = np.frombuffer(b.data, np.uint8), _masks(b.classes)
    return Template(arr, mask, _fixed_windows(b.steps, arr, mask))


_CLASS_MASKS = np.array([0, 0xFF, 0x80], np.uint8)  # by class: _FREE, _STRUCT, _INT


def _masks(classes: np.ndarray) -> np.ndarray:
    """Per byte: 0xFF for structure, 0x80 for a varint byte (its width is fixed), 0 for a value."""
    return _CLASS_MASKS[classes]


def _fixed_windows(steps: list, data: np.ndarray, mask: np.ndarray) -> tuple:
    """The walk's steps, compiled: every stretch of fixed size (constants, nested messages without a
    bytes value of varying length) becomes one masked comparison, ("window", (mask, expected)); a
    map entry that holds one bytes value of varying length becomes ("value", (mask, expected,
    weights, deltas)) (see Template.walk)."""
    out: list = []
    i = 0
    while i < len(steps):
        op, arg, start, stop = steps[i]
        if op == "open":
            j = _closing(steps, i)
            skips = [k for k in range(i, j) if steps[k][0] == "skip"]
            if not skips:
                _window(out, mask, data, start, steps[j][2])
                i = j + 1
                continue
            k = skips[0]
            if len(skips) == 1 and all(s[0] in ("open", "const") for s in steps[i:k]) \
                    and all(s[0] == "close" for s in steps[k + 1 : j + 1]):
                out.append(_value_step(out, steps[i : k + 1], mask, data))
                i = j + 1
                continue
        if op == "const":
            _window(out, mask, data, start, stop)
        else:
            out.append((op, arg))
        i += 1
    return tuple((op, _word_plan(*arg[:2])) if op == "window" else (op, arg) for op, arg in out)


def _word_plan(mask: np.ndarray, want: np.ndarray) -> tuple:
    """A masked comparison of len(mask) bytes as 8-byte words: (size, word offsets, word masks, expected words).

    The words start every 8 bytes, the last one ending with the stretch; a stretch shorter than 8
    bytes is read as the word that ends with it (a record's data starts 12 bytes into the
    buffer, so the bytes before it exist), with the bytes before the stretch masked out.
    """
    size = len(mask)
    offsets = list(range(0, size - 7, 8))
    if size % 8 or not offsets:
        offsets.append(size - 8)
    pad = max(0, 8 - size)
    m = np.concatenate([np.zeros(pad, np.uint8), mask])
    w = np.concatenate([np.zeros(pad, np.uint8), want])
    at = np.array(offsets) + pad
    words = lambda b: np.stack([b[o : o + 8] for o in at]).copy().view("<u8")[:, 0]  # noqa: E731
    return size, np.array(offsets, np.int64), words(m), words(w)


def _closing(steps: list, i: int) -> int:
    depth = 0
    for j in range(i, len(steps)):
        depth += {"open": 1, "close": -1}.get(steps[j][0], 0)
        if depth == 0:
            return j
    raise _NotPlain


def _window(out: list, mask: np.ndarray, data: np.ndarray, a: int, b: int) -> None:
    """Appends template bytes [a, b) as a window, merged into the window before it when adjacent."""
    if out and out[-1][0] == "window" and out[-1][1][2] == a:
        a = out.pop()[1][3]
    out.append(("window", (mask[a:b], data[a:b] & mask[a:b], b, a)))


def _value_step(out: list, steps: list, mask: np.ndarray, data: np.ndarray) -> tuple:
    """A map entry whose only varying part is one bytes value: its fixed-width head checked as one window.

    The head runs from the entry's length varint to the end of the value's length varint. Every
    length varint in it must keep the template's width (its high bits are compared) and hold the
    value's length plus the template's difference, read for all of them with one matrix product.
    """
    a = steps[0][2]
    if out and out[-1][0] == "window" and out[-1][1][2] == a:  # the tag before it joins the head
        a = out.pop()[1][3]
    varints = []
    for op, _, start, _ in steps:
        if op in ("open", "skip"):
            value = width = shift = 0
            while True:
                byte = int(data[start + width])
                value |= (byte & 0x7F) << shift
                width, shift = width + 1, shift + 7
                if byte < 0x80:
                    break
            varints.append((start - a, width, value))
    b = varints[-1][0] + a + varints[-1][1]
    head = mask[a:b].copy()
    cols, shifts, groups = [], [], []
    for col, width, _ in varints:
        head[col : col + width] = 0x80
        groups.append(len(cols))
        cols += range(col, col + width)
        shifts += range(0, 7 * width, 7)
    deltas = np.array([v - varints[-1][2] for _, _, v in varints], np.int64)
    return ("value", _word_plan(head, data[a:b] & head) + (np.array(cols), np.array(shifts, np.int64), np.array(groups), deltas))


def _words(data: np.ndarray, mask: np.ndarray) -> tuple:
    """8-byte windows that cover every non-value byte: (offset, mask, expected masked word)."""
    n = len(data)
    if n < 8:
        return None
    marked, out, i = np.flatnonzero(mask), [], 0
    while True:
        k = np.searchsorted(marked, i)
        if k == len(marked):
            return tuple(out)
        at = min(int(marked[k]), n - 8)
        m = mask[at : at + 8].view("<u8")[0]
        out.append((at, m, data[at : at + 8].view("<u8")[0] & m))
        i = at + 8
