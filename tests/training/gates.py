"""`tfrec train` in a subprocess that stops at a chosen point and waits there for the test's signal.

The test reads the subprocess's first stdout line ("stopped") and then sends a real signal: it waits
for the state it needs instead of polling the checkpoint directory against the clock, which a loaded
machine loses (the run moves on, or ends, between two polls). Only where the process waits is chosen.
"""
from __future__ import annotations

import subprocess
import sys

_GATED = """
import sys, time

def hold(*args, **kwargs):
    print("stopped", flush=True)
    while True:
        time.sleep(1)

gate, value = sys.argv[1].split(":")
if gate == "saved":  # just after the trainer's checkpoint VALUE (e.g. ckpt-2) is written and recorded
    from tfrec.training import loop
    real = loop._Checkpoints.save
    def save(self, *args, **kwargs):
        path = real(self, *args, **kwargs)
        return hold() if path and path.endswith("/" + value) else path
    loop._Checkpoints.save = save
elif gate == "recording":  # checkpoint number VALUE's files are written, the state file not yet updated
    from tensorflow.python.checkpoint import checkpoint_management as cm
    real = cm.update_checkpoint_state_internal
    def record(save_dir, model_checkpoint_path, *args, **kwargs):
        if model_checkpoint_path.endswith("ckpt-" + value):
            hold()
        return real(save_dir, model_checkpoint_path, *args, **kwargs)
    cm.update_checkpoint_state_internal = record
sys.argv = ["tfrec", *sys.argv[2:]]
from tfrec.cli.main import main
main()
"""


def start_gated(gate: str, args: list[str]) -> subprocess.Popen:
    """Starts `tfrec ARGS` held at `gate` ('saved:ckpt-2' or 'recording:1'); read wait_for_gate before signalling."""
    return subprocess.Popen([sys.executable, "-c", _GATED, gate, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_gate(proc: subprocess.Popen) -> bool:
    """Blocks until the process reaches its gate (True) or ends without reaching it (False)."""
    return proc.stdout.readline() == "stopped\n"
