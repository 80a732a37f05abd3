"""`tfrec inspect --html`: one self-contained file with the dataset summary, charts and bounded samples per class."""
from __future__ import annotations

import html
import json
import re

from click.testing import CliRunner

from tfrec.check.inspect import InspectOptions, inspect
from tfrec.cli.main import cli
from tfrec.view.report import write_html_report

from .conftest import EVIL


def _images(text: str) -> list[str]:
    return re.findall(r"<img src='([^']*)'", text)


def test_inspect_html_is_self_contained(evil_dataset, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["inspect", evil_dataset, "--html", str(out), "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)["written"]["html"]
    text = out.read_text()
    assert written == {"path": str(out), "bytes": len(text.encode()), "images": 15}
    images = _images(text)
    assert len(images) == 15 and all(src.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for src in images)
    assert "<script" not in text and "<link" not in text and "http://" not in text and "https://" not in text
    assert "label histogram (label, 4 distinct of 4)" in text and "image sizes (HxWxC)" in text and "<td>20x24</td>" in text
    assert "<img src=x" not in text and text.count(html.escape(EVIL)) >= 2  # histogram row and sample heading
    assert len(text) < 200_000


def test_samples_per_class_are_bounded(datasets, tmp_path):
    report = inspect([datasets["mnist"]], InspectOptions(progress=False))
    written = write_html_report(report, str(tmp_path / "r.html"), samples_per_class=2)
    text = (tmp_path / "r.html").read_text()
    assert written.images == 20 == len(_images(text))  # 10 classes x 2
    assert [html.unescape(h) for h in re.findall(r"<h4>([^<]*)</h4>", text)] == [str(d) for d in range(10)]


def test_report_on_foreign_files_shows_bad_records(foreign, tmp_path):
    out = tmp_path / "f.html"
    result = CliRunner().invoke(cli, ["inspect", foreign, "--html", str(out)])
    assert result.exit_code in (0, 1), result.output  # 1 if inspect itself met the damaged record
    text = out.read_text()
    assert "inferred from" in text and "damaged record" in text and "does not decode" in text
    assert len(_images(text)) == 7
