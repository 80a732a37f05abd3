"""Helpers that damage files on purpose, shared by the verify, scan and reader tests."""
from __future__ import annotations

from tfrec.io.index import read_index


def offsets(path: str) -> list[int]:
    return read_index(path + ".idx")[:, 0].tolist()


def flip(path: str, pos: int, mask: int = 0x10) -> None:
    with open(path, "r+b") as f:
        f.seek(pos)
        byte = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([byte ^ mask]))
