"""The torch backend's export: the model's state dict as a `.pt` file, its config and preprocessing as JSON beside it."""
from __future__ import annotations

import json
import os

import torch

from ...errors import TfrecError
from ..predictions import model_meta
from .zoo import build_model

FORMAT = "tfrec-torch-state-dict"


def config_path(path: str) -> str:
    """The JSON beside a .pt export: model.pt -> model.json."""
    return os.path.splitext(path)[0] + ".json"


def _atomic(path: str, write) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    write(tmp)
    os.replace(tmp, path)


def export_model(model: torch.nn.Module, path: str, plan) -> dict:
    """Writes the state dict to `path` (.pt) and the config + preprocessing to its .json, each atomically (the
    .json last: a .pt without it is visibly incomplete).

    Returns:
        {"pt": path, "config": the JSON's path}.
    """
    if not path.endswith((".pt", ".pth")):
        raise TfrecError(f"--export {path}: expected a file name ending in .pt")
    meta = {**model_meta(model, plan), "framework": "torch", "format": FORMAT, "config": dict(model.config),
            "dtype": "uint8", "normalize": "in_model", "torch_version": torch.__version__.split("+")[0]}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    _atomic(path, lambda tmp: torch.save(state, tmp))
    side = config_path(path)

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)

    _atomic(side, write)
    return {"pt": path, "config": side}


def load_model(path: str, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Loads a .pt written by `tfrec train --framework torch --export` and its JSON; the model is in eval mode.

    Raises:
        TfrecError: no such file, no JSON beside it, or a file that is not such an export.
    """
    if not os.path.isfile(path):
        raise TfrecError(f"{path}: no such model file (tfrec train --framework torch --export PATH.pt writes one)")
    side = config_path(path)
    try:
        with open(side, encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("format") != FORMAT:
            raise ValueError(f"its format is {meta.get('format')!r}, not {FORMAT!r}")
        config = meta["config"]
    except (OSError, ValueError, KeyError) as e:
        raise TfrecError(f"{path}: not a model exported by `tfrec train --framework torch --export` "
                         f"({side}: {e})") from None
    model = build_model(config["model"], config["num_classes"], tuple(config["image_shape"]))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # a damaged file or another model's weights: one line naming the file
        raise TfrecError(f"{path}: cannot load its weights into {config['model']} ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
    return model.to(device).eval(), meta
