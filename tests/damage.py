"""Helpers that damage files on purpose, shared by the verify, scan and reader tests."""
from __future__ import annotations

import gzip
import json
import os
import shutil

from tfrec.io.index import read_index


def offsets(path: str) -> list[int]:
    return read_index(path + ".idx")[:, 0].tolist()


def flip(path: str, pos: int, mask: int = 0x10) -> None:
    with open(path, "r+b") as f:
        f.seek(pos)
        byte = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([byte ^ mask]))


def gzip_copy(src: str, dst: str) -> str:
    """A copy of dataset `src` at `dst` with every shard rewritten as gzip (the .idx files keep their offsets in the
    uncompressed stream, as tfrec writes them for compressed shards); returns dst."""
    shutil.copytree(src, dst)
    manifest = json.loads(open(os.path.join(dst, "dataset.json")).read())
    manifest["compression"] = "gzip"
    for split in manifest["splits"].values():
        for s in split["shards"]:
            p = os.path.join(dst, s["file"])
            data = open(p, "rb").read()
            open(p, "wb").write(gzip.compress(data))
    open(os.path.join(dst, "dataset.json"), "w").write(json.dumps(manifest))
    return dst
