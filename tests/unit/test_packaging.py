"""Issue 20: installing the project (scripts/demo.sh, scripts/install.sh) prints no packaging
warnings; the offline docs assets come with the declared dependencies. Issue 15: every
third-party import is declared (none works only because another package happens to bring it)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
OWN = {"rag_service", "ingest", "policies", "bench", "tests", "scripts"}
# imported only on that extra's code path (lazily), so declared by the extra, not the base
EXTRA_ONLY: dict[str, str] = {}


def test_building_the_package_prints_no_warnings(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    out = subprocess.run(
        [*pip, "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    noise = [
        line
        for line in (out.stdout + out.stderr).splitlines()
        if "warning" in line.lower() and "is ignored: it is neither a file nor a directory" not in line
    ]
    assert noise == []
    wheels = list(tmp_path.glob("crm_rag_refresh-*.whl"))
    assert wheels
    with zipfile.ZipFile(wheels[0]) as wheel:  # the console's page, style and script modules
        names = set(wheel.namelist())
    console = sorted(p.name for p in (ROOT / "rag_service" / "static" / "console").iterdir())
    assert "app.js" in console and "console.css" in console
    assert {f"rag_service/static/console/{n}" for n in console} | {"rag_service/static/console.html"} <= names


def test_offline_docs_assets_are_a_declared_dependency() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("fastapi-offline==") for d in deps)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    assert match, req
    return _norm(match.group(1))


def declared(*extras: str) -> set[str]:
    """Distribution names of the base dependencies plus the given extras (self-references followed)."""
    names = {_req_name(r) for r in PROJECT["dependencies"]}
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in PROJECT["optional-dependencies"][extra]:
            if _req_name(req) == _norm(PROJECT["name"]):
                inner = re.search(r"\[(.*)\]", req)
                todo += inner.group(1).split(",") if inner else []
            else:
                names.add(_req_name(req))
    return names


def third_party_imports(*folders: str) -> dict[str, set[str]]:
    """Top-level module -> files importing it (lazy imports inside functions included)."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OWN:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize(
    ("folders", "extras"),
    [
        (("rag_service", "ingest", "policies"), ()),  # what the wheel ships: the base dependencies
        (("bench",), ("bench",)),
        (("tests", "scripts"), ("dev",)),
    ],
)
def test_every_third_party_import_is_declared(folders: tuple[str, ...], extras: tuple[str, ...]) -> None:
    dists = importlib.metadata.packages_distributions()
    undeclared = []
    for module, files in sorted(third_party_imports(*folders).items()):
        allowed = declared(*extras, *([EXTRA_ONLY[module]] if module in EXTRA_ONLY else []))
        provided = {_norm(d) for d in dists.get(module, [])}
        if not provided & allowed:
            undeclared.append(f"{module} (installed by {sorted(provided) or 'nothing'}) in {sorted(files)}")
    assert undeclared == []


def test_the_check_sees_lazy_imports() -> None:
    """The heavy imports sit inside functions; the walk must still find them."""
    found = third_party_imports("ingest", "policies")
    assert {"torch", "sentence_transformers", "tldextract", "alembic"} <= set(found)


def locked(name: str) -> dict[str, str]:
    """Package -> version pinned in a lock file (scripts/lock.sh writes them)."""
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", (ROOT / name).read_text(), re.MULTILINE)
    return {_norm(package): version for package, version in pins}


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", ("postgres",)), ("requirements-dev.lock", ("dev",))]
)
def test_the_lock_files_cover_pyproject_with_hashes_and_cpu_torch(lock: str, extras: tuple[str, ...]) -> None:
    """A dependency added to pyproject.toml without `bash scripts/lock.sh` fails here, not in CI's install."""
    pins = locked(lock)
    build = {_req_name(r) for r in PYPROJECT["build-system"]["requires"]}
    assert declared(*extras) | build | {"pip"} <= set(pins)
    assert pins["torch"] == "2.13.0+cpu"  # PyPI's Linux torch is a CUDA build of several GB
    assert not [p for p in pins if p.startswith("nvidia-")]
    text = (ROOT / lock).read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)[1:]
    assert all("--hash=sha256:" in block for block in blocks)  # install.sh uses --require-hashes
    assert "file://" not in text and _norm(PROJECT["name"]) not in pins  # the project goes in with --no-deps


def test_both_lock_files_pin_the_same_versions() -> None:
    runtime, dev = locked("requirements.lock"), locked("requirements-dev.lock")
    assert set(runtime) <= set(dev)
    assert {p: v for p, v in runtime.items() if dev[p] != v} == {}
