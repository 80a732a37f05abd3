"""Every command spells a shared concept alike: one option name, one meaning, one size order (issue 24, Consistency).

The rules are written down in cli/_common.py; this walks every Click command (the `bench` group's too)
and checks them, so a new command or option cannot drift from them unnoticed.
"""
from __future__ import annotations

from collections import defaultdict

import click
import pytest
from click.testing import CliRunner

from tfrec.cli import _common
from tfrec.cli.main import cli


def _commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> dict[str, click.Command]:
    found = {}
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        if isinstance(command, click.Group):
            found.update(_commands(command, prefix + (name,)))
        else:
            found[" ".join(prefix + (name,))] = command
    return found


COMMANDS = _commands()


def _options(command: click.Command, hidden: bool = False) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and p.hidden == hidden]


def _spelling(option: click.Option) -> tuple[str, ...]:
    return tuple(sorted(option.opts + option.secondary_opts))


def test_the_walk_finds_every_command():
    assert {"convert", "verify", "inspect", "view", "train", "evaluate", "predict", "bench read", "bench train",
            "serve-data", "demo", "fetch", "export-tfds"} <= set(COMMANDS)


def test_one_spelling_per_concept_and_one_concept_per_spelling():
    # A concept is an option's parameter name (what the command's function receives).
    spellings, concepts = defaultdict(set), defaultdict(set)
    for name, command in COMMANDS.items():
        for option in _options(command):
            spellings[option.name].add(_spelling(option))
            for opt in option.opts + option.secondary_opts:
                concepts[opt].add(option.name)
    assert {k: v for k, v in spellings.items() if len(v) > 1} == {}
    assert {k: v for k, v in concepts.items() if len(v) > 1} == {}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_json_and_quiet(name):
    options = {o.name: o for o in _options(COMMANDS[name])}
    assert _spelling(options["as_json"]) == ("--json",)
    assert _spelling(options["quiet"]) == ("--quiet", "-q")
    assert "result is still printed" in options["quiet"].help


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_shared_concepts_are_spelled_alike(name):
    for option in _options(COMMANDS[name]):
        opts = _spelling(option)
        if "split" in option.name:  # --split reads one split; --train-split/--val-split where a command reads two
            expected = "--split" if option.name == "split" else "--" + option.name.replace("_", "-")
            assert opts == (expected,) and option.name in ("split", "train_split", "val_split"), (name, opts)
        if "batch" in option.name and "size" in option.name:
            assert opts == ("--batch-size",), (name, opts)
        if "step" in option.name and option.name != "stages":
            assert option.name == "steps_per_epoch" and opts == ("--steps-per-epoch",), (name, opts)
        if option.name == "seed":
            assert opts == ("--seed",) and option.type is click.INT, name
        if option.name == "model":  # an architecture from the zoo, where a command builds one
            from tfrec.training.zoo import MODELS

            assert isinstance(option.type, click.Choice) and list(option.type.choices) == list(MODELS), name
        if "model" in option.name and isinstance(option.type, click.Path):  # a .keras file, where a command loads one
            assert option.name == "model_file" and opts == ("--model-file",), (name, opts)
            assert isinstance(option.type, click.Path) and ".keras" in option.help, name


def test_sizes_are_width_x_height_on_the_command_line():
    sized = 0
    for name, command in COMMANDS.items():
        for option in _options(command):
            is_size = option.name in ("image_size", "resize") or option.callback is _common.parse_wxh
            if not is_size:
                continue
            sized += 1
            assert option.callback is _common.parse_wxh and "WIDTHxHEIGHT" in option.help, (name, option.name)
    assert sized >= 4  # train, bench read, bench train --image-size; convert --resize
    assert _common.parse_wxh(None, None, "320x240") == (320, 240) and _common.parse_wxh(None, None, "64") == (64, 64)


def test_the_rules_are_written_where_the_options_are_defined():
    text = _common.__doc__ + (_common.OPTION_RULES or "")
    for words in ("--split", "--train-split", "--model-file", "--steps-per-epoch", "WIDTHxHEIGHT", "(height, width)",
                  "HxWxC", "deprecat"):
        assert words in text, words


def test_hidden_options_are_only_deprecated_aliases():
    aliases = 0
    for name, command in COMMANDS.items():
        visible = {o.name: o for o in _options(command)}
        for option in _options(command, hidden=True):
            assert isinstance(option, _common.DeprecatedAlias), (name, option.opts)
            assert option.new in {o for v in visible.values() for o in v.opts}, (name, option.new)
            aliases += 1
            result = CliRunner().invoke(cli, name.split() + ["--help"])
            assert result.exit_code == 0 and f"{option.opts[0]} " not in result.output
    assert aliases >= 3  # evaluate and predict --model, bench train --steps


@pytest.mark.parametrize("argv,old,new", [
    (["bench", "train", "{dir}", "--steps", "5", "--steps-per-epoch", "5"], "--steps", "--steps-per-epoch"),
    (["evaluate", "{dir}", "--model", "{file}", "--model-file", "{file}"], "--model", "--model-file"),
    (["predict", "{file}", "--model", "{file}", "--model-file", "{file}"], "--model", "--model-file"),
])
def test_an_old_spelling_with_its_new_one_is_a_usage_error(tmp_path, argv, old, new):
    f = tmp_path / "m.keras"
    f.write_bytes(b"")
    argv = [a.format(dir=tmp_path, file=f) for a in argv]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2, result.output
    assert f"{old} is the old name of {new}: give {new} only" in result.output


def test_a_required_option_is_still_required_with_its_alias(tmp_path):
    result = CliRunner().invoke(cli, ["evaluate", str(tmp_path)])
    assert result.exit_code == 2 and "Missing option '--model-file'" in result.output


def test_bench_train_steps_still_works_saying_it_is_deprecated(tmp_path, monkeypatch):
    import tfrec.bench.options

    given = {}

    def stand_in(**kwargs):  # the options are all the CLI's part; stop before any model is built
        given.update(kwargs)
        raise click.exceptions.Exit(0)

    monkeypatch.setattr(tfrec.bench.options, "TrainBenchOptions", stand_in)
    result = CliRunner().invoke(cli, ["bench", "train", str(tmp_path), "--steps", "7", "--quick"])
    assert result.exit_code == 0, result.output
    assert given["steps"] == 7 and given["rounds"] == 1  # --quick's other settings stay
    assert result.stderr.strip() == "note: --steps is deprecated; use --steps-per-epoch (the same option)"
    result = CliRunner().invoke(cli, ["bench", "train", str(tmp_path), "--steps-per-epoch", "9"])
    assert result.exit_code == 0 and given["steps"] == 9 and result.stderr == ""



def test_printed_shapes_say_they_are_height_by_width(datasets):
    # 24x20 pictures (WIDTHxHEIGHT, as --resize would name them) are arrays of shape 20x24(x3), and say so.
    import glob

    shard = sorted(glob.glob(f"{datasets['imagefolder']}/*-train.tfrecord-*[0-9]"))[0]
    for paths in ([datasets["imagefolder"]], [shard]):
        result = CliRunner().invoke(cli, ["inspect", *paths])
        assert result.exit_code == 0, result.output
        shaped = [line for line in result.stdout.splitlines() if "20x24" in line]
        assert shaped and all("(HxWxC)" in line for line in shaped) and "24x20" not in result.stdout, result.stdout


@pytest.mark.parametrize("loopback", [True, False])
def test_view_quiet_keeps_the_result_and_the_warning(datasets, monkeypatch, loopback):
    # -q was missing on view: it silences the notes (port taken, stopped), never the URL or the warning.
    from tfrec.view import server

    class FakeServer:
        url, port = "http://127.0.0.1:8001/", 8001

        def serve_forever(self, poll_interval=0.5):
            raise KeyboardInterrupt

        def server_close(self):
            pass

    FakeServer.loopback = loopback
    monkeypatch.setattr(server, "make_server", lambda *a, **k: FakeServer())
    args = ["view", datasets["mnist"], "--port", "8000", "--host", "127.0.0.1" if loopback else "192.0.2.1"]
    loud, quiet = CliRunner().invoke(cli, args), CliRunner().invoke(cli, args + ["-q"])
    assert loud.exit_code == quiet.exit_code == 0, quiet.output
    assert loud.stdout == quiet.stdout and "at http://127.0.0.1:8001/" in quiet.stdout
    assert "stopped" in loud.stderr and "port 8000 was taken" in loud.stderr
    warning = "warning: listening on 192.0.2.1: anyone who can reach this address can browse the dataset"
    assert quiet.stderr.strip() == ("" if loopback else warning)
