"""`ganforge explore`: a local web page to look at what generators learned (Starlette + uvicorn,
plain HTML/JS in ./static).

Only the run directories named on the command line are served; a client names one by its index or
its folder name, never by a path. Every request is validated: bounded counts, seeds, steps and
values, known fields only, bodies of at most MAX_BODY bytes. A bad request is answered with a 4xx
status and {"error": message}, and the server goes on serving.
"""
from __future__ import annotations

import base64
import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np
import torch

from ..errors import ConfigError, GanforgeError
from ..limits import SHARED as LIMITS
from ..images import png_bytes
from .arithmetic import MAX_GROUP, arithmetic, group_mean, jittered
from .curves import LivePlots
from .directions import Directions, run_directions
from .interpolation import interpolate
from .points import MAX_SEED, Point, cat, code_spec, render, seed_points, shifted, with_codes
from .sheets import tile_array, tile_scale

STATIC = Path(__file__).parent / "static"
MAX_BODY = 16 * 1024          # bytes in one request body
MAX_GRID = 64                 # samples in one grid request
MAX_STEPS = 32                # interpolation steps
MAX_DIRECTIONS = 16           # direction amounts in one request
TRUNCATION = (LIMITS["truncation"].lo, LIMITS["truncation"].hi)  # shared with the CLI (null: none)
MAX_DEPTH = 32                # nesting of arrays and objects in a request body
AMOUNT = 10.0                 # |amount| along a direction
CODE_VALUE = 4.0              # |value| of a continuous code
MAX_SCALE = 16                # upscaling of a downloaded picture
VARIATIONS = 5                # arithmetic result and 4 jittered variations (Radford et al.)


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class ServedRun:
    index: int
    name: str
    g: object
    codes: dict
    directions: dict[str, tuple[str, np.ndarray]]   # id -> (label, unit vector)
    lock: threading.Lock = field(default_factory=threading.Lock)
    plots: LivePlots | None = None  # its training curves, redrawn as metrics.jsonl grows

    def describe(self) -> dict:
        g = self.g
        return {"index": self.index, "name": self.name, "step": g.step,
                "image": len(g.data_shape) == 3, "shape": list(g.data_shape),
                "conditional": g.conditional, "num_classes": g.num_classes if g.conditional else 0,
                "z_dim": int(g.G.noise_dim), "family": g.cfg.family.get("name", ""),
                "codes": [{"name": k, **v} for k, v in self.codes.items()],
                "directions": [{"id": k, "label": v[0]} for k, v in self.directions.items()]}


def served_directions(g, found: list[Directions]) -> dict[str, tuple[str, np.ndarray]]:
    out = {}
    for d in found:
        if d.vectors.shape[1] != g.G.noise_dim:
            continue  # written for another generator
        for i, (vec, name) in enumerate(zip(d.vectors, d.names)):
            label = name if d.kind == "attribute" else f"{name} ({d.attribute})"
            out[f"{d.name}.{i}"] = (label, vec)
    return out


def served_runs(loaded: list) -> list[ServedRun]:
    """Loaded runs (ganforge.api.load) as the explorer serves them, with unique names."""
    runs, names = [], set()
    for i, g in enumerate(loaded):
        name = Path(g.run_dir).resolve().name
        name = name if name not in names else f"{name}-{i}"
        names.add(name)
        runs.append(ServedRun(i, name, g, code_spec(g), served_directions(g, run_directions(g.run_dir)),
                              plots=LivePlots(g.run_dir)))
    return runs


# ------------------------------------------------------------------------------ validation

def _int(value, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{what} must be an integer in {lo}..{hi}")
    if not lo <= value <= hi:
        raise BadRequest(f"{what} must be in {lo}..{hi}, got {value}")
    return value


def _float(value, what: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadRequest(f"{what} must be a number in [{lo}, {hi}]")
    if not lo <= value <= hi:
        raise BadRequest(f"{what} must be in [{lo}, {hi}], got {value}")
    return float(value)


def _fields(body, allowed: set[str], what: str = "request") -> dict:
    if not isinstance(body, dict):
        raise BadRequest(f"the {what} must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(map(repr, unknown))} in the {what}; "
                         f"valid: {', '.join(sorted(allowed))}")
    return body


def _seed(value, what: str = "seed") -> int:
    if isinstance(value, float):  # JSON 1.0 is not a seed
        raise BadRequest(f"{what} must be an integer in 0..{MAX_SEED}")
    try:
        return LIMITS["seed"].check(value, what)
    except ConfigError as e:
        raise BadRequest(str(e)) from None


VIEW = {"truncation", "label", "codes", "directions"}


@dataclass
class View:
    """Settings shared by every request: truncation, class, codes, direction amounts."""
    truncation: float | None
    label: int | None
    codes: dict
    directions: dict[str, float]

    @staticmethod
    def parse(run: ServedRun, body: dict) -> "View":
        t = body.get("truncation")
        try:
            t = None if t is None else LIMITS["truncation"].check(t, "truncation")
        except ConfigError as e:
            raise BadRequest(str(e)) from None
        label = _label(run, body.get("label"))
        codes = body.get("codes") or {}
        if not isinstance(codes, dict) or len(codes) > len(run.codes):
            raise BadRequest(f"codes must be an object with this run's codes: {', '.join(run.codes) or 'none'}")
        for name, value in codes.items():
            spec = run.codes.get(name)
            if spec is None:
                raise BadRequest(f"unknown code {name!r}; this run has: {', '.join(run.codes) or 'none'}")
            if spec["kind"] == "categorical":
                _int(value, f"code {name}", 0, spec["size"] - 1)
            else:
                if not isinstance(value, list) or len(value) != spec["size"]:
                    raise BadRequest(f"code {name} takes a list of {spec['size']} number(s)")
                for v in value:
                    _float(v, f"code {name}", -CODE_VALUE, CODE_VALUE)
        moves = body.get("directions") or {}
        if not isinstance(moves, dict) or len(moves) > MAX_DIRECTIONS:
            raise BadRequest(f"directions must be an object of at most {MAX_DIRECTIONS} id: amount pairs")
        for key, amount in moves.items():
            if key not in run.directions:
                raise BadRequest(f"unknown direction {key!r}; this run has: "
                                 f"{', '.join(run.directions) or 'none (run `ganforge directions`)'}")
            _float(amount, f"amount for {key}", -AMOUNT, AMOUNT)
        return View(t, label, codes, {k: float(v) for k, v in moves.items()})

    def apply(self, run: ServedRun, point: Point) -> Point:
        if self.codes:
            point = with_codes(point, self.codes, run.codes)
        if self.directions:
            keys = list(self.directions)
            vectors = torch.from_numpy(np.stack([run.directions[k][1] for k in keys])).double()
            point = shifted(point, vectors, torch.tensor([self.directions[k] for k in keys], dtype=torch.float64))
        return point


def _label(run: ServedRun, value) -> int | None:
    if value is None:
        return None
    if not run.g.conditional:
        raise BadRequest("this run is not conditional: it takes no class label")
    return _int(value, "label", 0, run.g.num_classes - 1)


def _picks(run: ServedRun, value, what: str, most: int) -> list[tuple[int, int | None]]:
    """A list of {"seed": S, "label": L|null}."""
    if not isinstance(value, list) or not 1 <= len(value) <= most:
        raise BadRequest(f"{what} must be a list of 1..{most} picks {{seed, label}}")
    return [_pick(run, v, what) for v in value]


def _pick(run: ServedRun, value, what: str) -> tuple[int, int | None]:
    v = _fields(value, {"seed", "label"}, f"pick in {what}")
    if "seed" not in v:
        raise BadRequest(f"every pick in {what} needs a seed")
    return _seed(v["seed"], f"seed in {what}"), _label(run, v.get("label"))


def _points(run: ServedRun, view: View, picks: list[tuple[int, int | None]]) -> Point:
    g = run.g
    return view.apply(run, cat([seed_points(g, [s], None if l is None else [l], view.truncation)
                                for s, l in picks]))


def _data_urls(images: torch.Tensor) -> list[str]:
    from PIL import Image
    if images.dim() != 4:
        raise BadRequest("this run generates points, not images; the explorer shows image runs")
    return ["data:image/png;base64," + base64.b64encode(png_bytes(Image.fromarray(tile_array(x)))).decode()
            for x in images]


# ------------------------------------------------------------------------------ operations

def op_grid(run: ServedRun, body: dict) -> dict:
    body = _fields(body, VIEW | {"seeds", "start", "count"})
    view = View.parse(run, body)
    if "seeds" in body:
        if "start" in body or "count" in body:
            raise BadRequest("give either seeds or start and count")
        seeds = body["seeds"]
        if not isinstance(seeds, list) or not 1 <= len(seeds) <= MAX_GRID:
            raise BadRequest(f"seeds must be a list of 1..{MAX_GRID} integers")
        seeds = [_seed(s) for s in seeds]
    else:
        count = _int(body.get("count", 16), "count", 1, MAX_GRID)
        start = _int(body.get("start", 0), "start", 0, MAX_SEED - count + 1)
        seeds = list(range(start, start + count))
    point = view.apply(run, seed_points(run.g, seeds, view.label, view.truncation))
    labels = None if point.labels is None else point.labels.tolist()
    return {"seeds": seeds, "labels": labels, "images": _data_urls(render(run.g, point))}


def op_interpolate(run: ServedRun, body: dict) -> dict:
    body = _fields(body, VIEW | {"a", "b", "steps", "slerp"})
    view = View.parse(run, body)
    a, b = _pick(run, body.get("a"), "a"), _pick(run, body.get("b"), "b")
    steps = _int(body.get("steps", 8), "steps", 2, MAX_STEPS)
    slerp = body.get("slerp", False)
    if not isinstance(slerp, bool):
        raise BadRequest("slerp must be true or false")
    ends = _points(run, view, [a, b])
    path = interpolate(ends.slice(0, 1), ends.slice(1, 2), steps, spherical=slerp)
    return {"images": _data_urls(render(run.g, path))}


def op_arithmetic(run: ServedRun, body: dict) -> dict:
    body = _fields(body, VIEW | {"a", "b", "c"})
    view = View.parse(run, body)
    groups = [_points(run, view, _picks(run, body.get(k), k, MAX_GROUP)) for k in ("a", "b", "c")]
    k = run.g.num_classes
    means = [group_mean(p, k) for p in groups]
    result = jittered(arithmetic(*groups, num_classes=k), VARIATIONS)
    tiles = torch.cat([render(run.g, p) for p in [*means, result]])
    urls = _data_urls(tiles)
    return {"means": urls[:3], "images": urls[3:]}


OPERATIONS = {"grid": op_grid, "interpolate": op_interpolate, "arithmetic": op_arithmetic}


# ------------------------------------------------------------------------------ the app

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def create_app(runs: list[ServedRun], allowed_hosts: list[str] | None = None):
    """The Starlette app. `allowed_hosts`: Host header values accepted (None: any); a server bound
    to this machine accepts only loopback names, so other web pages cannot reach it through DNS
    rebinding."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    by_key = {str(r.index): r for r in runs}
    by_key.update({r.name: r for r in runs if r.name not in by_key})

    def find(key: str) -> ServedRun:
        run = by_key.get(key)
        if run is None:
            served = ", ".join(f"{r.index} ({r.name})" for r in runs)
            raise BadRequest(f"no served run is called {key!r}; served: {served}", 404)
        return run

    async def read_json(request: Request):
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise BadRequest("invalid Content-Length")
            if int(declared) > MAX_BODY:
                raise BadRequest(f"request body too large (limit {MAX_BODY} bytes)", 413)
        body, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise BadRequest(f"request body too large (limit {MAX_BODY} bytes)", 413)
            body.append(chunk)
        data = b"".join(body) or b"null"
        if json_depth(data) > MAX_DEPTH:
            raise BadRequest(f"the body nests arrays and objects deeper than {MAX_DEPTH} levels")
        try:
            return json.loads(data, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise BadRequest(f"the body is not valid JSON: {str(e)[:200]}") from None

    def guarded(handler):
        async def endpoint(request: Request):
            try:
                return await handler(request)
            except BadRequest as e:
                return JSONResponse({"error": e.message}, status_code=e.status)
            except GanforgeError as e:
                return JSONResponse({"error": str(e)}, status_code=400)
        return endpoint

    async def index(request: Request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def list_runs(request: Request):
        return JSONResponse({"runs": [r.describe() for r in runs]})

    async def operation(request: Request):
        run = find(request.path_params["run"])
        op = OPERATIONS.get(request.path_params["op"])
        if op is None:
            raise BadRequest(f"unknown operation; use one of {', '.join(OPERATIONS)}", 404)
        body = await read_json(request)

        def work():
            with run.lock:
                return op(run, body)
        return JSONResponse(await run_in_threadpool(work))

    async def picture(request: Request):
        run = find(request.path_params["run"])
        q = request.query_params
        allowed = {"seed", "label", "truncation", "scale"}
        unknown = sorted(set(q) - allowed)
        if unknown:
            raise BadRequest(f"unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(sorted(allowed))}")
        seed = _seed(_parse_number(q.get("seed", "0"), int, "seed"))
        label = None if q.get("label") in (None, "") else _parse_number(q["label"], int, "label")
        t = None if q.get("truncation") in (None, "") else _parse_number(q["truncation"], float, "truncation")
        scale = _int(_parse_number(q.get("scale", "0"), int, "scale"), "scale", 0, MAX_SCALE)
        view = View.parse(run, {"truncation": t, "label": label})

        def work():
            with run.lock:
                image = render(run.g, seed_points(run.g, [seed], view.label, view.truncation))
            if image.dim() != 4:
                raise BadRequest("this run generates points, not images")
            from PIL import Image
            tile = Image.fromarray(tile_array(image[0]))
            k = scale or tile_scale(max(tile.size), 256)
            return png_bytes(tile.resize((tile.width * k, tile.height * k), Image.NEAREST))
        data = await run_in_threadpool(work)
        return Response(data, media_type="image/png", headers={
            "Content-Disposition": content_disposition(f"{run.name}-seed{seed}.png")})

    async def plot_list(request: Request):
        run = find(request.path_params["run"])
        if run.plots is None:
            return JSONResponse({"version": 0, "plots": []})
        version, names = await run_in_threadpool(run.plots.current)
        return JSONResponse({"version": version, "plots": [
            {"name": n, "url": f"/api/runs/{run.index}/plots/{n}.png?v={version}"} for n in names]})

    async def plot_image(request: Request):
        run = find(request.path_params["run"])
        path = run.plots.path(request.path_params["name"]) if run.plots is not None else None
        if path is None or not path.is_file():
            raise BadRequest("no such plot; GET /api/runs/RUN/plots lists them", 404)
        return Response(path.read_bytes(), media_type="image/png", headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", index),
        Route("/api/runs", list_runs),
        Route("/api/runs/{run}/plots", guarded(plot_list)),
        Route("/api/runs/{run}/plots/{name}.png", guarded(plot_image)),
        Route("/api/runs/{run}/image.png", guarded(picture)),
        Route("/api/runs/{run}/{op}", guarded(operation), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    async def http_error(request: Request, exc):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    middleware = []
    if allowed_hosts is not None:
        from starlette.middleware import Middleware
        from starlette.middleware.trustedhost import TrustedHostMiddleware
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={404: http_error, 405: http_error})


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, counted without parsing it (the
    parser recurses once per level, so a deep body would exhaust Python's stack first)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:      # backslash
                escaped = True
            elif byte == 0x22:      # closing quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def content_disposition(filename: str) -> str:
    """An attachment header for any file name (RFC 6266): a plain-ASCII fallback in `filename`
    (quotes, backslashes, controls and non-ASCII replaced) and the exact name, UTF-8 and
    percent-encoded, in `filename*` (RFC 5987), which browsers prefer."""
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _parse_number(text: str, kind, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise BadRequest(f"{what} must be a number, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise BadRequest(f"{what} must be finite")
    return value


def serve(loaded: list, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the explorer for loaded runs (ganforge.api.load) until interrupted."""
    import uvicorn
    if not loaded:
        raise GanforgeError("name at least one run directory to explore")
    runs = served_runs(loaded)
    local = host in LOOPBACK
    app = create_app(runs, allowed_hosts=["127.0.0.1", "localhost", "[::1]"] if local else None)
    shown = f"[{host}]" if ":" in host else host
    print(f"exploring {len(runs)} run(s) at http://{shown}:{port}/  (Ctrl-C stops)", flush=True)
    if not local:
        print("warning: the explorer is reachable from other machines at this address", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", limit_concurrency=64,
                timeout_keep_alive=5)
