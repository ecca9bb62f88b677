"""Layers import downward only: every import in every module of the package (function-local ones
included) is checked against the layer list in the README's Development section."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ganforge"


def layer_table() -> list[tuple[str, list[str]]]:
    """[(layer, [paths relative to ganforge/])] from the README, top layer first."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Development"):]
    block = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    table = []
    for line in filter(str.strip, block.splitlines()):
        name, _, rest = line.strip().partition(" ")
        paths = rest.split(":", 1)[0]
        table.append((name, [p.strip() for p in paths.split(",")]))
    return table


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str, table) -> int | None:
    """Index of the layer owning `module` (a dotted ganforge name); the longest path wins."""
    rel = module.split(".")[1:]
    best, best_len = None, -1
    for index, (_, paths) in enumerate(table):
        for p in paths:
            if p == "__init__.py":
                target = []
            elif p.endswith("/"):
                target = p.rstrip("/").split("/")
            else:
                target = p.removesuffix(".py").split("/")
            exact_init = p == "__init__.py" and rel == []
            if (exact_init or (target and rel[:len(target)] == target)) and len(target) > best_len:
                best, best_len = index, len(target)
    return best


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, dotted name) of every ganforge module the file at `path` (or `source`, read as if
    it were that file) imports, anywhere in it."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # `from . import run` imports a module: name it, so its own layer counts
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                sub = ROOT.joinpath(*candidate.split("."))
                found.append((node.lineno, candidate if sub.with_suffix(".py").is_file() or sub.is_dir()
                              else target))
    return [(line, name) for line, name in found if name == "ganforge" or name.startswith("ganforge.")]


def test_the_readme_names_every_module_of_the_package():
    table = layer_table()
    assert [name for name, _ in table][:3] == ["cli", "api", "explore"] and len(table) == 12
    unowned = [module_name(p) for p in PACKAGE.rglob("*.py") if layer_of(module_name(p), table) is None]
    assert unowned == []


def test_no_module_imports_a_layer_above_its_own():
    table = layer_table()
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = layer_of(module_name(path), table)
        for line, name in imported_modules(path):
            other = layer_of(name, table)
            if other is not None and other < own:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({table[own][0]}) imports {name} "
                              f"({table[other][0]})")
    assert upward == []


def test_the_checker_sees_an_upward_import():
    """A family importing the trainer inside a function is caught."""
    table = layer_table()
    family = layer_of("ganforge.families.sgan", table)
    trainer = layer_of("ganforge.training.trainer", table)
    assert trainer < family
    source = PACKAGE / "families" / "sgan.py"
    names = [name for _, name in imported_modules(source)]
    assert all(layer_of(n, table) >= family for n in names)
    probe = "def f():\n    from ..training import trainer\n    import ganforge.api\n"
    found = imported_modules(PACKAGE / "families" / "probe.py", probe)
    assert found == [(2, "ganforge.training.trainer"), (3, "ganforge.api")]
