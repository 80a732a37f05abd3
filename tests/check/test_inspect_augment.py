"""`tfrec inspect --augment PRESET --grid`: a contact sheet of what the reader's augmentation yields."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from tfrec.cli.main import cli


@pytest.mark.slow
def test_augmented_contact_sheet(datasets, tmp_path):
    sheet = tmp_path / "aug.png"
    result = CliRunner().invoke(cli, ["inspect", datasets["cifar10"], "--augment", "cifar", "--grid", str(sheet),
                                      "--grid-images", "9", "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)["written"]["grid"]
    assert written["images"] == 9 and "augmented with the 'cifar' preset" in written["detail"]
    assert Image.open(sheet).format == "PNG"


def test_augment_needs_grid(datasets):
    result = CliRunner().invoke(cli, ["inspect", datasets["mnist"], "--augment", "mnist"])
    assert result.exit_code == 1 and "give --grid FILE.png too" in result.stderr
