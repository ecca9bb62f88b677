"""InfoGAN's code sweeps: grids of latents where one latent code varies along each row."""
from __future__ import annotations

import torch

from ..errors import ConfigError
from ..families.infogan import InfoGAN
from ..nn.latent import Latent


def parse_code(family: InfoGAN, code: str) -> tuple[str, int]:
    """'cat' -> ('cat', 0); 'cont1' -> ('cont', 1); errors name the codes this run has."""
    if code == "cat" and family.categorical:
        return "cat", 0
    if code.startswith("cont") and code[4:].isdigit() and int(code[4:]) < family.continuous:
        return "cont", int(code[4:])
    have = (["cat"] if family.categorical else []) + [f"cont{i}" for i in range(family.continuous)]
    raise ConfigError(f"unknown InfoGAN code '{code}'; this run has: {', '.join(have)}")


@torch.no_grad()
def code_sweep_latent(family: InfoGAN, n_rows: int, code: str, steps: int | None = None,
                      seed: int = 0, span: float = 1.0, device: str | torch.device = "cpu") -> Latent:
    """A grid of latents, row-major: each row keeps one draw of z (and of the other codes) and its
    columns vary `code` ('cat': every category in order; 'contI': `steps` values evenly spaced in
    [-span, span], default 10; the paper also shows span 2, beyond the training range)."""
    if not isinstance(family, InfoGAN):
        raise ConfigError("varying a latent code needs an InfoGAN run (family.name = infogan)")
    kind, index = parse_code(family, code)
    if kind == "cat":
        values = torch.arange(family.categorical, device=device)
    else:
        values = torch.linspace(-span, span, steps or 10, device=device)
    columns = len(values)
    gen = torch.Generator(device).manual_seed(seed)
    rows = family.sample_latent(n_rows, family.z_dim, torch.device(device), gen)
    grid = Latent(rows.z.repeat_interleave(columns, 0),
                  None if rows.labels is None else rows.labels.repeat_interleave(columns, 0),
                  {k: v.repeat_interleave(columns, 0) for k, v in rows.codes.items()})
    swept = values.repeat(n_rows)
    if kind == "cat":
        grid.codes["cat"] = swept
    else:
        grid.codes["cont"][:, index] = swept
    return grid
