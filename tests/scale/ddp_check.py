"""Run by tests/scale/test_ddp.py under torchrun (2 CPU processes): DDP checks that need a process
group, each reported as one JSON line per rank in OUT/rank-<r>.json.

1. GradientSync averages gradients exactly as by hand, through what GAN losses do to DDP: several
   D calls before one backward, `features`/heads called directly, a gradient penalty (double
   backward), a parameter the loss never reaches, and gradient accumulation (no_sync).
2. Every family recipe trains 3 steps under DDP and its ranks end with identical weights that
   moved away from their initialisation (each rank saw different data).
3. train.sync_bn on the CPU is refused with a one-line error.
4. Weights that differ between ranks (a family deciding from one rank's batches) stop the run.

    python -m torch.distributed.run --nproc-per-node 2 --standalone tests/scale/ddp_check.py OUT
"""
import gc
import hashlib
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ganforge.config import resolve
from ganforge.errors import ConfigError, GanforgeError
from ganforge.models.dcgan import DCGANDiscriminator
from ganforge.objectives.regularizers import gradient_penalty
from ganforge.training.runtime import GradientSync, resolve_runtime
from ganforge.training.trainer import Trainer

RUN = ["train.batch_size=8", "train.log_every=1", "train.sample_every=100", "train.ckpt_every=100",
       "train.progress=false", "train.grid_size=8", "train.steps=3"]
SMALL = ["data.image_size=16", "generator.width=8", "generator.z_dim=16", "discriminator.width=8"]
FAMILY_RECIPES = {
    "dcgan": SMALL, "gan-saturating": ["data.image_size=8", "generator.width=16", "discriminator.width=16"],
    "wgan": SMALL + ["family.warmup_d_steps=2", "family.warmup_g_steps=1", "family.d_steps=2"],
    "wgan-gp": SMALL + ["family.d_steps=2"], "cgan": SMALL, "acgan": SMALL, "infogan": SMALL,
    "sgan": SMALL, "began": SMALL + ["discriminator.hidden=8"],
    "pggan-mnist": ["data.source=digits", "data.image_size=16", "generator.z_dim=8",
                    "generator.channel_base=16", "generator.channel_max=8",
                    "discriminator.channel_base=16", "discriminator.channel_max=8",
                    "family.stable_kimg=0.008", "family.transition_kimg=0.008",
                    "family.batch_sizes=[8, 8, 4]"],
    "biggan-mnist": ["data.image_size=16", "generator.width=8", "generator.multipliers=[2,2,1]",
                     "generator.z_dim=12", "generator.attention_resolution=8",
                     "discriminator.width=8", "discriminator.multipliers=[1,2,2]",
                     "discriminator.attention_resolution=8", "train.accumulate=2"],
}

def digest(tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def gradient_check(rt) -> dict:
    torch.manual_seed(0)
    D = DCGANDiscriminator((1, 8, 8), width=4, batchnorm=False)
    D.add_head("aux", 3)
    D.add_head("never", 2)  # in the optimiser, never reached by the loss
    params = list(D.parameters())
    sync = GradientSync(params, rt)

    def loss_of(rank: int, micro: int):
        g = torch.Generator().manual_seed(100 * rank + micro)
        reals, fakes = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g)

        def compute():
            loss = D(fakes).mean() - D(reals).mean()
            loss = loss + D.heads["aux"](D.features(reals)).logsumexp(1).mean()
            loss = loss + 10 * gradient_penalty(D, reals, fakes, generator=g)
            return loss, {"loss": loss.detach()}
        return compute

    expected = []  # what each rank would compute alone, for 2 micro-batches
    for rank in range(rt.world_size):
        D.zero_grad(set_to_none=True)
        for micro in range(2):
            loss_of(rank, micro)()[0].backward()
        expected.append([p.grad.clone() if p.grad is not None else None for p in params])
    D.zero_grad(set_to_none=True)
    for micro in range(2):
        with sync.micro_batch(last=micro == 1):
            loss, _ = sync(loss_of(rt.rank, micro))
            loss.backward()
    worst, never_none = 0.0, True
    for i, p in enumerate(params):
        grads = [e[i] for e in expected]
        if grads[0] is None:
            never_none = never_none and p.grad is None and all(g is None for g in grads)
            continue
        mean = torch.stack(grads).mean(0)
        worst = max(worst, float(((p.grad - mean).abs() / (mean.abs() + 1e-6)).max()))
    return {"grad_max_rel_error": worst, "unused_grad_is_none": never_none,
            "local_differs": not torch.equal(expected[0][0], expected[1][0])}


def family_check(out: Path, recipe: str, extra: list[str]) -> dict:
    """This rank's weights after 3 steps, and whether they moved from the initialisation."""
    cfg = resolve(recipe, RUN + extra)
    run = out / "runs" / recipe
    run.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg, run)
    start = digest([p for m in (trainer.G, trainer.D) for p in m.parameters()])
    trainer.train()
    final = digest([p for m in (trainer.G, trainer.D) for p in m.parameters()])
    family = {k: v.tolist() if torch.is_tensor(v) else v for k, v in trainer.family.state_dict().items()}
    return {"weights": final, "moved": final != start, "family_state": family}


def disagreement(out: Path, rt) -> str | None:
    """Nudge one weight on rank 1 only, as a rank-local schedule would; the next log must stop."""
    run = out / "runs" / "disagree"
    run.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(resolve("dcgan-paper", RUN + SMALL), run)
    trainer.train(until=1)
    if rt.rank == 1:
        with torch.no_grad():
            next(trainer.G.parameters()).view(-1)[0] += 1e-3
    try:
        trainer.train()
    except GanforgeError as error:
        return str(error)
    return None


def main() -> None:
    out = Path(sys.argv[1])
    rt = resolve_runtime("cpu", "fp32")
    result = {"rank": rt.rank, "gradients": gradient_check(rt), "families": {}}
    for recipe, extra in FAMILY_RECIPES.items():
        result["families"][recipe] = family_check(out, recipe, extra)
    try:
        Trainer(resolve("dcgan", RUN + SMALL + ["train.sync_bn=true"]), out / "syncbn")
        result["sync_bn_error"] = None
    except ConfigError as error:
        result["sync_bn_error"] = str(error)
    result["disagreement_error"] = disagreement(out, rt)
    (out / f"rank-{rt.rank}.json").write_text(json.dumps(result))
    # Trainers left in reference cycles (the disagreement one ends in an exception) hold DDP
    # reducers; freed only at exit, after the process group is gone, they aborted the process
    # now and then ("terminate called without an active exception"). Free them while it exists.
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
