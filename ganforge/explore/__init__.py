"""Looking at what a generator learned: interpolation (lerp/slerp, classes through their
embeddings), latent vector arithmetic, truncation, controllable directions in z, a memorization
check against the training set, image sheets, and a local web explorer (`ganforge explore`).

Everything works on `Point`s (a batch of generator inputs) and a loaded run (`ganforge.load`):

    g = ganforge.api.load("runs/dcgan-001")
    ends = seed_points(g, [3, 17])
    images = render(g, interpolate(ends.slice(0, 1), ends.slice(1, 2), steps=10, spherical=True))

The web server (Starlette + uvicorn) is imported only by `ganforge explore`.
"""
from .arithmetic import arithmetic, combine, group_mean, jittered
from .directions import (Directions, fit_attribute_direction, load_directions, principal_directions,
                         run_directions, save_directions)
from .interpolation import interpolate, interpolation_rows
from .nearest import memorization, nearest_neighbours
from .points import ClassPath, ClassWeights, Point, random_points, render, seed_points
from .sheets import sheet, write_sheet

__all__ = [
    "ClassPath", "ClassWeights", "Directions", "Point", "arithmetic", "combine",
    "fit_attribute_direction", "group_mean", "interpolate", "interpolation_rows", "jittered",
    "load_directions", "memorization", "nearest_neighbours", "principal_directions",
    "random_points", "render", "run_directions", "save_directions", "seed_points", "sheet",
    "write_sheet",
]
