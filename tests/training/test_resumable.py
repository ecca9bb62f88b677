"""--resume with changed settings: schedule keys change freely, a changed architecture is refused
up front in one line naming the keys."""
import pytest

from ganforge import api, run
from ganforge.cli import main
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.training import checkpoint as ckpt
from tests.conftest import TINY_DCGAN


@pytest.fixture
def stopped(tmp_path):
    return api.train(resolve("dcgan", TINY_DCGAN + ["train.steps=2", "train.ckpt_every=2"]), out=tmp_path / "run")


@pytest.mark.parametrize("sets, named", [
    ({"generator": {"width": 16}}, "generator.width 8 -> 16"),
    ({"discriminator": {"name": "mlp"}}, "discriminator.name 'dcgan' -> 'mlp'"),
    ({"data": {"image_size": 32}}, "data.image_size 16 -> 32"),
    ({"optim": {"name": "rmsprop"}}, "optim.name 'adam' -> 'rmsprop'"),
])
def test_a_changed_architecture_is_refused_before_anything_loads(stopped, sets, named):
    log_before = run.metrics_path(stopped).read_text()
    with pytest.raises(ConfigError, match="cannot resume .* with a different model or data: ") as error:
        api.resume(stopped, {**sets, "train": {"steps": 4}})
    assert named in str(error.value) and "train.steps" not in str(error.value).split(":")[1].split("(")[0]
    assert run.metrics_path(stopped).read_text() == log_before
    assert [p.name for p in ckpt.checkpoint_dirs(stopped)] == ["step-00000002"]


def test_schedule_and_shape_free_changes_resume(stopped):
    api.resume(stopped, {"train": {"steps": 4, "log_every": 1}, "optim": {"g_lr": 1e-4},
                         "family": {"loss": "hinge"}, "generator": {"width": 8}})
    assert [p.name for p in ckpt.checkpoint_dirs(stopped)][-1] == "step-00000004"


def test_cli_says_it_in_one_line(stopped, capsys):
    assert main(["train", "--resume", str(stopped), "--set", "generator.z_dim=8"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot resume") and "generator.z_dim 16 -> 8" in err
    assert len(err.splitlines()) == 1
