"""The shape STYLE.md asks for: a pure domain, layers, no package cycles, size budgets, and
one subscription table that covers every domain event."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "callcentre"
ALLOWED_IN_DOMAIN = {"callcentre.domain", "callcentre.errors"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_domain_imports_only_the_standard_library() -> None:
    for path in (PACKAGE / "domain").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            ok = top in sys.stdlib_module_names or top == "__future__" or any(
                name == a or name.startswith(a + ".") for a in ALLOWED_IN_DOMAIN)
            assert ok, f"{path.name} imports {name}"


def test_domain_never_reads_the_clock() -> None:
    for path in (PACKAGE / "domain").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("datetime.now(", ".utcnow(", "time.time(", "date.today("):
            assert forbidden not in text, f"{path.name} reads the clock ({forbidden})"


def test_modules_stay_under_the_size_budget() -> None:
    sizes = {p.relative_to(PACKAGE): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert {p: n for p, n in sizes.items() if n > 420} == {}


def test_functions_stay_short() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 45:
                    long.append(f"{path.name}:{node.name} ({length} lines)")
    assert long == []


# --- layers: domain <- services <- adapters <- root ---------------------------------------
# Each module's layer, by the longest prefix that names it. A module imports only from its
# own layer or those below; services (and ports) only the standard library besides.
LAYERS = {
    "callcentre.domain": 0, "callcentre.errors": 0,
    "callcentre.ports": 1, "callcentre.services": 1,
    "callcentre.ami": 2, "callcentre.storage": 2, "callcentre.web": 2,
    "callcentre.scheduling": 2, "callcentre.observability": 2, "callcentre.phones": 2,
    "callcentre.config": 2, "callcentre.testing": 2,
    "callcentre.app": 3, "callcentre.__main__": 3, "callcentre.demo": 3, "callcentre": 3,
}
NAMES = ("domain", "services (and ports)", "adapters", "the composition root")


def _module(path: Path) -> str:
    parts = ["callcentre", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    prefix = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[prefix]


def _unit(module: str) -> str:
    """The package (callcentre.ami, ...) or top-level module a module belongs to."""
    return ".".join(module.split(".")[:2])


def _graph() -> dict[str, set[str]]:
    return {_module(p): {n for n in _imports(p) if n.split(".")[0] == "callcentre"}
            for p in PACKAGE.rglob("*.py")}


def test_layers_import_only_downwards() -> None:
    wrong = []
    for module, imported in _graph().items():
        for name in imported:
            if _layer(name) > _layer(module):
                wrong.append(f"{module} ({NAMES[_layer(module)]}) imports {name}"
                             f" ({NAMES[_layer(name)]})")
    assert wrong == []


def test_only_the_web_adapter_calls_services() -> None:
    """The other adapters implement ports and produce domain events; the root connects them
    to services (app.py's subscription table), so no adapter reaches up into the call log."""
    for module, imported in _graph().items():
        if _layer(module) == 2 and _unit(module) != "callcentre.web":
            assert not [n for n in imported if _unit(n) == "callcentre.services"], module


def test_services_and_ports_use_only_the_standard_library() -> None:
    for path in [*(PACKAGE / "services").rglob("*.py"), *(PACKAGE / "ports").rglob("*.py")]:
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top in ("__future__", "callcentre"), (
                f"{path.name} imports {name}: wrap the library in an adapter behind a port")


def test_no_cycles_between_packages() -> None:
    edges: dict[str, set[str]] = {}
    for module, imported in _graph().items():
        edges.setdefault(_unit(module), set()).update(
            _unit(n) for n in imported if _unit(n) != _unit(module))
    done: set[str] = set()

    def visit(unit: str, path: tuple[str, ...]) -> None:
        assert unit not in path, "package cycle: " + " -> ".join((*path, unit))
        if unit in done:
            return
        for nxt in sorted(edges.get(unit, ())):
            visit(nxt, (*path, unit))
        done.add(unit)

    for unit in sorted(edges):
        visit(unit, ())


def test_every_translated_event_has_a_consumer(tmp_path: Path) -> None:
    """The subscription table in app.py covers every domain event the AMI adapter makes."""
    from callcentre.app import Service
    from callcentre.config import Config
    from callcentre.domain import callback_events as cev
    from callcentre.domain import events as ev
    from callcentre.domain.resync import Resynced, ResyncStarted

    bus = Service(Config(db=str(tmp_path / "cc.sqlite3"))).bus
    made = {*ev.CallEvent.__args__, *cev.CallbackEvent.__args__, ResyncStarted, Resynced}
    made.discard(cev.CallbackLegEnded)  # the dialler's own reading of a CallerHungUp
    assert {kind.__name__ for kind in made if not bus.consumers(kind)} == set()
