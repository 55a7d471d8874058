"""Issue 20: installing the project (scripts/demo.sh, scripts/install.sh) prints no packaging
warnings; the offline docs assets come with the declared dependencies."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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
