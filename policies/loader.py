"""Load and validate policy files (YAML) at startup; fail loudly on any problem."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from policies.errors import PolicyFileError

DEFAULT_POLICY_DIR = Path(__file__).resolve().parent

M = TypeVar("M", bound=BaseModel)


def load_policy_file(path: Path, model: type[M]) -> M:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyFileError(f"cannot read policy file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"policy file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyFileError(f"policy file {path} must hold a mapping at top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyFileError(f"policy file {path} is invalid: {problems}") from exc
