import argparse

import pytest

from trainer.config import TrainConfig, add_config_arguments, resolve_config


def parse(argv):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return resolve_config(parser.parse_args(argv))


def test_defaults_yaml_and_command_line_precedence(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("epochs: 7\nlr: 0.05\nmilestones: [2, 4]\nhard_gumbel: true\n")
    config = parse(["--config", str(path), "--lr", "0.2", "--no-hard-gumbel"])
    assert config.epochs == 7  # from the file
    assert config.lr == 0.2  # the command line wins
    assert config.hard_gumbel is False
    assert config.milestones == [2, 4]
    assert config.batch_size == TrainConfig().batch_size  # default


def test_list_and_optional_flags():
    config = parse(["--milestones", "3", "9", "--target-blocks", "4.5"])
    assert config.milestones == [3, 9] and config.target_blocks == 4.5


def test_unknown_setting_in_file_is_an_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("epochz: 3\n")
    with pytest.raises(ValueError, match="epochz"):
        parse(["--config", str(path)])


def test_invalid_values_are_errors():
    with pytest.raises(ValueError, match="schedule"):
        parse(["--schedule", "linear"])
    with pytest.raises(ValueError, match="views"):
        parse(["--views", "0"])


def test_every_shipped_recipe_resolves():
    from pathlib import Path

    recipes = sorted(Path(__file__).parents[1].joinpath("recipes").glob("*.yaml"))
    assert len(recipes) >= 5
    for recipe in recipes:
        parse(["--config", str(recipe)])


def test_resume_and_overwrite_contradict_each_other():
    with pytest.raises(ValueError, match="--resume.*--overwrite"):
        parse(["--resume", "--overwrite"])


def _subcommand_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _unexplained_flags(parser: argparse.ArgumentParser) -> list[str]:
    """Flags whose help says no more than the default (three words at least)."""
    import re

    unexplained = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        words = re.sub(r"\(default: [^)]*\)", "", action.help or "").split()
        if len(words) < 3:
            unexplained.append("/".join(action.option_strings) or action.dest)
    return unexplained


def test_every_command_line_flag_explains_itself():
    from backend.__main__ import get_args_parser as backend_parser
    from trainer.__main__ import get_args_parser as trainer_parser

    parsers = {f"trainer {name}": p for name, p in _subcommand_parsers(trainer_parser()).items()}
    parsers["backend"] = backend_parser()
    assert set(parsers) == {
        "trainer train",
        "trainer ablate",
        "trainer sweep",
        "trainer eval",
        "trainer import",
        "backend",
    }
    unexplained = {name: _unexplained_flags(p) for name, p in parsers.items()}
    assert unexplained == {name: [] for name in parsers}


def test_a_settings_help_shows_its_default():
    from trainer.__main__ import get_args_parser

    text = _subcommand_parsers(get_args_parser())["train"].format_help()
    assert "--lr LR" in text and "(default: 0.1)" in text
