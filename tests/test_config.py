import pytest

from ganforge.config import Config, load_recipe, parse_set_args, recipe_names, resolve
from ganforge.errors import ConfigError
from ganforge.training.build import validated_sections


def test_every_recipe_resolves_and_validates():
    assert {"gan", "dcgan", "dcgan-64", "gan-saturating"} <= set(recipe_names())
    for name in recipe_names():
        cfg = load_recipe(name)
        assert cfg.recipe == name and cfg.description
        validated_sections(cfg)  # raises on an unknown key or type


def test_paper_hyperparameters_in_dcgan_recipe():
    cfg = load_recipe("dcgan")
    assert cfg.optim.name == "adam" and cfg.optim.g_lr == 2e-4 and cfg.optim.d_lr == 2e-4
    assert tuple(cfg.optim.betas) == (0.5, 0.999)
    assert cfg.data.source == "mnist" and cfg.data.image_size == 32
    big = load_recipe("dcgan-64")  # base recipe refined: 64 px, the paper's widths
    assert big.data.image_size == 64 and big.generator["width"] == 64 and big.optim.g_lr == 2e-4


def test_set_overrides_are_typed():
    cfg = resolve("dcgan", ["train.steps=7", "optim.betas=[0.0, 0.9]", "train.ema=true",
                            "generator.width=16", "family.loss=saturating"])
    assert cfg.train.steps == 7 and cfg.optim.betas == (0.0, 0.9) and cfg.train.ema is True
    fam, gen, _ = validated_sections(cfg)
    assert gen["width"] == 16 and fam["loss"] == "saturating"


def test_parse_set_args_keeps_strings_and_numbers():
    assert parse_set_args(["data.source=path/to/x", "train.steps=3"]) == {
        "data": {"source": "path/to/x"}, "train": {"steps": 3}}


@pytest.mark.parametrize("sets, fragment", [
    (["train.stpes=3"], "valid keys"),
    (["nosection.x=1"], "unknown config section"),
    (["train.steps=many"], "expected int"),
    (["train.steps=1.5"], "expected int"),
    (["train.ema=maybe"], "expected bool"),
    (["trainsteps"], "section.key=value"),
])
def test_bad_overrides_are_clear_errors(sets, fragment):
    with pytest.raises(ConfigError, match=fragment):
        resolve("dcgan", sets)


def test_component_keys_checked_against_constructor():
    cfg = resolve("dcgan", ["generator.depth=3"])  # mlp has depth, dcgan does not
    with pytest.raises(ConfigError, match="valid keys: conditioning, width, z_dim"):
        validated_sections(cfg)
    with pytest.raises(ConfigError, match="unknown generator 'nope'"):
        validated_sections(resolve("dcgan", ["generator.name=nope"]))


def test_unknown_recipe_lists_available():
    with pytest.raises(ConfigError, match="available: .*dcgan"):
        load_recipe("stylegan9")


def test_config_roundtrip_through_dict():
    from ganforge.config import from_dict
    cfg = resolve("dcgan", ["train.steps=11"])
    again = from_dict(cfg.to_dict())
    assert again == cfg and isinstance(again, Config)
