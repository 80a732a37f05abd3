"""TensorFlow's C++ start-up and tf.data log lines stay off stderr wherever tfrec loads TensorFlow for
the user (issue 24 item 13), and the user's own log settings are kept."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tfrec._tfimport import kept_log_lines

NOISE = ("absl::InitializeLog", "cpu_feature_guard", "oneDNN custom operations", "buffer_size` is unspecified",
         "To enable the following instructions")


def _run(code: str, env: dict | None = None, args: list[str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # conftest sets it for the tests
    cmd = [sys.executable, "-c", code] if args is None else args
    return subprocess.run(cmd, capture_output=True, text=True, env={**base, **(env or {})}, timeout=300)


def _noise(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if any(n in line for n in NOISE)]


@pytest.fixture(scope="module")
def photos(datasets):
    return datasets["imagefolder"]


@pytest.mark.parametrize("how", ["package", "module"])
def test_make_dataset_in_python_prints_no_tensorflow_log_lines(photos, how):
    get = ("import tfrec; make_dataset = tfrec.make_dataset" if how == "package"
           else "from tfrec.read.pipeline import make_dataset")
    code = f"{get}\nds = make_dataset({photos!r}, batch_size=4, image_size=(8, 8))\nnext(iter(ds)); print('ok')"
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok" and _noise(out.stderr) == [], out.stderr


def test_verify_deep_prints_no_tensorflow_log_lines(photos):
    out = _run("", args=[os.path.join(os.path.dirname(sys.executable), "tfrec"), "verify", "--deep", "-q", photos])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no problems found" in out.stdout and _noise(out.stderr) == [], out.stderr


def test_the_users_unset_log_level_stays_unset_and_python_logging_is_untouched(photos):
    code = ("import logging, os\n"
            "logging.getLogger('tensorflow').setLevel(logging.DEBUG); logging.getLogger().setLevel(logging.INFO)\n"
            "import tfrec\n"
            f"next(iter(tfrec.make_dataset({photos!r}, batch_size=4, image_size=(8, 8))))\n"
            "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'), logging.getLogger('tensorflow').level,"
            " logging.getLogger().level)")
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "10", "20"]


def test_the_users_own_log_level_is_respected(photos):
    # TF_CPP_MIN_LOG_LEVEL=0 asks for everything: the start-up lines are the user's to see.
    code = ("import os, tfrec\n"
            f"next(iter(tfrec.make_dataset({photos!r}, batch_size=4, image_size=(8, 8))))\n"
            "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    out = _run(code, {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0" and "oneDNN custom operations" in out.stderr


def test_a_failed_import_shows_what_it_printed(tmp_path):
    # A broken 'tensorflow' on the path: its output and its error reach the user.
    (tmp_path / "tensorflow.py").write_text("import sys\nprint('loading failed here', file=sys.stderr)\n"
                                            "raise ImportError('broken tensorflow')\n")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
            "from tfrec._tfimport import import_tensorflow_quietly\nimport_tensorflow_quietly()")
    out = _run(code)
    assert out.returncode == 1
    assert "loading failed here" in out.stderr and "ImportError: broken tensorflow" in out.stderr


@pytest.mark.parametrize("level, kept", [
    (0, ["pre", "I1", "cont", "W1", "E1", "py"]),
    (1, ["W1", "E1", "py"]),
    (2, ["E1", "py"]),
])
def test_kept_log_lines_filters_by_severity(level, kept):
    text = (b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            b"I0000 00:00:1.0 1 port.cc:153] I1\ncont\nW0000 00:00:1.0 1 x.cc:1] W1\n"
            b"E0000 00:00:1.0 1 x.cc:2] E1\n/x/y.py:3: UserWarning: py\n")
    names = {b"WARNING: All": "pre", b"I0000": "I1", b"cont": "cont", b"W0000": "W1", b"E0000": "E1", b"/x/y": "py"}
    out = [next(v for k, v in names.items() if line.startswith(k)) for line in kept_log_lines(text, level).splitlines()]
    assert out == kept
