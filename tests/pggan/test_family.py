"""The PGGAN family: growing schedule in images, optimiser resets, batch sizes, faded reals,
the WGAN-GP + drift loss, snapshots."""

import pytest
import torch
from safetensors.torch import load_file, safe_open

from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.families import FAMILIES, Latent
from ganforge.families.pggan import PGGAN, GrowthSchedule, Phase
from ganforge.run import growth_snapshot_path as snapshot_path
from ganforge.training.control import TrainingControl
from ganforge.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganforge.models.pggan import PGGANDiscriminator, PGGANGenerator
from ganforge.objectives.regularizers import gradient_penalty
from ganforge.training.build import validated_sections


def _models(size=32):
    torch.manual_seed(0)
    return (PGGANGenerator((1, size, size), z_dim=8, channel_base=16, channel_max=16),
            PGGANDiscriminator((1, size, size), channel_base=16, channel_max=16))


def _family(**kw):
    fam = PGGAN(**kw)
    G, D = _models()
    fam.setup(G, D, 0)
    return fam, G, D


class FakeControl:
    """What the trainer offers before_step, recording the schedule's requests."""

    def __init__(self, batch_size=10, run_dir=None, sampling_generator=None):
        self.images_seen, self.step, self.batch_size = 0, 0, batch_size
        self.resets, self.sizes = [], []
        self.run_dir, self.sampling_generator = run_dir, sampling_generator

    def set_batch_size(self, n):
        self.sizes.append(n)
        self.batch_size = n

    def reset_optimizers(self):
        self.resets.append(self.images_seen)

    # The trainer's own snapshot writer, reading this fake's run_dir, generator and counters.
    save_generator_snapshot = TrainingControl.save_generator_snapshot


def test_registered_with_the_paper_defaults():
    assert FAMILIES["pggan"] is PGGAN
    fam = PGGAN()
    assert (fam.loss, fam.gp_weight, fam.drift_weight) == ("wasserstein", 10.0, 0.001)
    assert (fam.stable_kimg, fam.transition_kimg, fam.d_steps) == (600.0, 600.0, 1)
    assert fam.reset_optimizer_state and fam.reuses_fakes


def test_schedule_phase_boundaries_and_alpha_are_exact():
    s = GrowthSchedule(stable_images=100, transition_images=50, num_stages=4)
    table = {0: Phase(0, 0, 1.0), 99: Phase(0, 0, 1.0), 100: Phase(1, 1, 0.0), 125: Phase(1, 1, 0.5),
             149: Phase(1, 1, 0.98), 150: Phase(2, 1, 1.0), 249: Phase(2, 1, 1.0), 250: Phase(3, 2, 0.0),
             300: Phase(4, 2, 1.0), 400: Phase(5, 3, 0.0), 440: Phase(5, 3, 0.8), 450: Phase(6, 3, 1.0),
             549: Phase(6, 3, 1.0), 550: Phase(6, 3, 1.0), 10 ** 9: Phase(6, 3, 1.0)}
    for images, phase in table.items():
        assert s.at(images) == phase, images
    assert [s.phase_start(i) for i in range(8)] == [0, 100, 150, 250, 300, 400, 450, 550]
    assert s.total_images == 550
    for n in range(250, 300):  # alpha rises linearly with the images shown, exactly
        assert s.at(n).alpha == (n - 250) / 50


def test_schedule_without_transitions_and_with_one_stage():
    s = GrowthSchedule(stable_images=100, transition_images=0, num_stages=3)
    assert [s.at(n) for n in (99, 100, 199, 200, 300)] == [
        Phase(0, 0, 1.0), Phase(2, 1, 1.0), Phase(2, 1, 1.0), Phase(4, 2, 1.0), Phase(4, 2, 1.0)]
    assert GrowthSchedule(100, 100, 1).at(10 ** 6) == Phase(0, 0, 1.0)


def test_kimg_settings_become_image_counts():
    fam, G, D = _family(stable_kimg=0.6, transition_kimg=0.25)
    assert fam.schedule == GrowthSchedule(600, 250, 4)


def test_before_step_grows_resets_optimizers_and_sets_batch_sizes():
    fam, G, D = _family(stable_kimg=0.1, transition_kimg=0.05, batch_sizes=(10, 10, 5))
    control = FakeControl(batch_size=10)
    seen = []
    while control.images_seen < 600:
        fam.before_step(control)
        seen.append((control.images_seen, G.current_stage, G.current_alpha, control.batch_size))
        assert (D.current_stage, D.current_alpha) == (G.current_stage, G.current_alpha)
        assert (fam.stage, fam.alpha) == (G.current_stage, G.current_alpha)
        control.images_seen += control.batch_size
        control.step += 1
    # A reset at every phase boundary (each fade-in's start and end), never at the start.
    assert control.resets == [100, 150, 250, 300, 400, 450]
    assert (100, 1, 0.0, 10) in seen and (140, 1, 0.8, 10) in seen and (150, 1, 1.0, 10) in seen
    # Batch size per stage, the last value repeating: 5 from stage 2 on.
    assert {b for (n, s, a, b) in seen if s < 2} == {10} and {b for (n, s, a, b) in seen if s >= 2} == {5}
    assert (255, 2, 0.1, 5) in seen and (445, 3, 0.9, 5) in seen
    assert seen[-1][1:3] == (3, 1.0)


def test_no_reset_when_disabled_and_no_batch_change_without_batch_sizes():
    fam, G, D = _family(stable_kimg=0.1, transition_kimg=0.05, reset_optimizer_state=False)
    control = FakeControl(batch_size=7)
    for _ in range(100):
        fam.before_step(control)
        control.images_seen += 7
    assert control.resets == [] and set(control.sizes) == {7} and G.current_stage == 3


def test_resume_state_sees_the_same_boundaries():
    fam, G, D = _family(stable_kimg=0.1, transition_kimg=0.05)
    control = FakeControl()
    control.images_seen = 90
    fam.before_step(control)
    state = fam.state_dict()
    resumed, _, _ = _family(stable_kimg=0.1, transition_kimg=0.05)
    resumed.load_state_dict(state)
    control.images_seen = 100  # the next step crosses into the first fade-in
    resumed.before_step(control)
    assert control.resets == [100]
    fresh, _, _ = _family(stable_kimg=0.1, transition_kimg=0.05)
    fresh.before_step(control)  # a new run starting here has nothing to reset
    assert control.resets == [100]


def test_resume_right_before_a_new_stage_snapshots_the_stage_that_ended(tmp_path):
    fam, G, D = _family(stable_kimg=0.1, transition_kimg=0.05)
    control = FakeControl(run_dir=tmp_path, sampling_generator=G)
    control.images_seen = 240  # stable 8x8, the last step before 16x16 fades in
    fam.before_step(control)
    resumed, G2, _ = _family(stable_kimg=0.1, transition_kimg=0.05)
    resumed.load_state_dict(fam.state_dict())
    G2.load_state_dict(G.state_dict())
    control.sampling_generator, control.images_seen = G2, 250
    resumed.before_step(control)
    assert [p.name for p in (tmp_path / "growth").iterdir()] == ["stage-01.safetensors"]
    assert load_file(str(snapshot_path(tmp_path, 1)))["stage"].item() == 1


def test_reals_are_downsampled_and_faded_like_the_generator_output():
    fam, G, D = _family(stable_kimg=0.1, transition_kimg=0.1)
    x = torch.arange(2 * 32 * 32, dtype=torch.float32).view(2, 1, 32, 32).sin()

    def block_mean(t, k):  # k x k block averages, written out with a reshape
        n, c, h, w = t.shape
        return t.view(n, c, h // k, k, w // k, k).mean(dim=(3, 5))

    control = FakeControl()
    control.images_seen = 50  # 4x4 stable
    fam.before_step(control)
    assert torch.allclose(fam.prepare_reals(x), block_mean(x, 8), atol=1e-6)
    control.images_seen = 325  # stage 2 (16x16), alpha 0.25
    fam.before_step(control)
    assert (fam.stage, fam.alpha) == (2, 0.25)
    fine = block_mean(x, 2)
    coarse = block_mean(x, 4).repeat_interleave(2, 2).repeat_interleave(2, 3)
    expected = 0.25 * fine + 0.75 * coarse
    out = fam.prepare_reals(x)
    assert out.shape == (2, 1, 16, 16) and torch.allclose(out, expected, atol=1e-6)
    assert not torch.allclose(fine, coarse, atol=1e-2)
    control.images_seen = 10 ** 6  # full size: the reals pass unchanged
    fam.before_step(control)
    assert torch.equal(fam.prepare_reals(x), x)


def test_d_loss_is_wasserstein_plus_gradient_penalty_plus_drift():
    # Weights other than the paper's 10 and 0.001, so that each term is visible in the total.
    fam, G, D = _family(stable_kimg=0.1, transition_kimg=0.1, gp_weight=3.0, drift_weight=2.0)
    control = FakeControl()
    control.images_seen = 150  # stage 1 fading in
    fam.before_step(control)
    reals = fam.prepare_reals(torch.rand(6, 1, 32, 32) * 2 - 1)
    fakes = G(torch.randn(6, 8)).detach()
    noise = torch.Generator().manual_seed(3)
    state = noise.get_state()
    loss, stats = fam.d_loss(D, reals, None, fakes, _latent(6), noise)
    noise.set_state(state)
    gp = gradient_penalty(D, reals, fakes, None, generator=noise)
    d_real, d_fake = D(reals), D(fakes)
    expected = d_fake.mean() - d_real.mean() + 3.0 * gp + 2.0 * d_real.square().mean()
    assert (3.0 * gp).item() > 1e-3 and (2.0 * d_real.square().mean()).item() > 1e-3
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6, abs=1e-7)
    assert stats["gp"].item() == pytest.approx(gp.item(), rel=1e-6)
    assert stats["drift"].item() == pytest.approx(d_real.square().mean().item(), rel=1e-6)
    assert (stats["stage"].item(), stats["alpha"].item()) == (1.0, 0.5)
    g_loss, _ = fam.g_loss(D, fakes, _latent(6))
    assert g_loss.item() == pytest.approx(-d_fake.mean().item(), rel=1e-6)


def _latent(n):
    return Latent(torch.zeros(n, 8))


def test_snapshot_of_the_sampling_generator_at_the_end_of_each_stage(tmp_path):
    fam, G, D = _family(stable_kimg=0.1, transition_kimg=0.05)
    control = FakeControl(batch_size=10, run_dir=tmp_path, sampling_generator=G)
    while control.images_seen < 600:
        fam.before_step(control)
        control.images_seen += 10
        control.step += 1
    files = sorted(p.name for p in (tmp_path / "growth").iterdir())
    assert files == ["stage-00.safetensors", "stage-01.safetensors", "stage-02.safetensors"]
    with safe_open(str(snapshot_path(tmp_path, 1)), "pt") as f:
        meta = f.metadata()
    # Taken just before the fade-in of stage 2 begins (at 250 images), at stage 1's end state.
    assert meta == {"stage": "1", "resolution": "8", "images_seen": "250", "step": "25"}
    weights = load_file(str(snapshot_path(tmp_path, 1)))
    assert weights["stage"].item() == 1 and weights["alpha"].item() == 1.0


def test_needs_the_pggan_models_and_valid_settings():
    with pytest.raises(ConfigError, match="generator.name = \"pggan\""):
        PGGAN().setup(DCGANGenerator((1, 16, 16), z_dim=8, width=8),
                      DCGANDiscriminator((1, 16, 16), width=8), 0)
    with pytest.raises(ConfigError, match="batch_sizes must be integers"):
        PGGAN(batch_sizes=("x",))
    with pytest.raises(ConfigError, match=">= 0"):
        PGGAN(stable_kimg=-1)
    # From the command line the batch sizes arrive as a list or comma-separated text.
    for text in ("[16, 8]", "16,8"):
        cfg = resolve("pggan-mnist", [f"family.batch_sizes={text}"])
        family, _, _ = validated_sections(cfg)
        assert PGGAN(**{k: v for k, v in family.items() if k != "name"}).batch_sizes == (16, 8)


def test_steps_to_finish_counts_whole_steps_per_phase():
    fam = PGGAN(stable_kimg=0.1, transition_kimg=0.05, batch_sizes=(30, 30, 20))
    # 4x4: ceil(100/30) = 4 steps (120 images); fade-in 8x8 to 150: 1 step; stable to 250: 4 steps
    # (270); stage 2 at 20: to 300: 2 (310); to 400: 5 (410); to 450: 2 (450); to 550: 5.
    assert fam.steps_to_finish(4, batch_size=99) == 4 + 1 + 4 + 2 + 5 + 2 + 5
    simulated, shown, schedule = 0, 0, GrowthSchedule(100, 50, 4)
    while shown < schedule.total_images:
        shown += fam.batch_size_at(schedule.at(shown).stage, 99)
        simulated += 1
    assert fam.steps_to_finish(4, batch_size=99) == simulated
    assert PGGAN(stable_kimg=0.1, transition_kimg=0.05).steps_to_finish(4, 10) == 55
    # Two D batches per step: 20 images a step; 5 + 3 + 5 + 2 + 5 + 3 + 5 steps over the phases.
    assert PGGAN(stable_kimg=0.1, transition_kimg=0.05, d_steps=2).steps_to_finish(4, 10) == 28


def test_last_stable_phase_can_be_longer_than_the_others():
    """last_stable_kimg lengthens only the final stage's stable phase: every boundary before it
    stays where it was, the schedule's total and train.steps grow by the extra images."""
    plain = GrowthSchedule(100, 50, 3)
    longer = GrowthSchedule(100, 50, 3, last_stable_images=400)
    assert plain.total_images == 100 + 150 + 150 and longer.total_images == 100 + 150 + 50 + 400
    assert [longer.at(n) for n in range(0, 700, 10)] == [plain.at(n) for n in range(0, 700, 10)]
    assert GrowthSchedule(100, 50, 1, last_stable_images=400).total_images == 400  # one stage: 4x4 only
    assert PGGAN(stable_kimg=0.1, transition_kimg=0.05, last_stable_kimg=0.4).steps_to_finish(3, 10) == 70
    assert PGGAN(stable_kimg=0.1, transition_kimg=0.05).steps_to_finish(3, 10) == 40
    with pytest.raises(ConfigError):
        PGGAN(last_stable_kimg=-1)
