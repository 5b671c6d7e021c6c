"""Profiles: which adapter runs each role, as data.

    from models.pipeline.profiles import load_profile
    from models.pipeline.registry import load_role
    profile = load_profile("offline")            # or a path to a YAML file of the same shape
    captioner = load_role(profile, "captioner")  # built once per process and cached

A role's `identity()` (adapter kind, model id, revision, dtype, options) is part of the fingerprint of
every stage that uses the role, so changing a model id re-runs exactly the stages that depend on it.
Device and batch size are left out: they change speed, not results.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from models.pipeline.roles import ROLES

PROFILES_DIR = Path(__file__).with_name("profiles")
DEFAULT_MODELS_DIR = Path(os.environ.get("RAINRAG_MODELS", "~/.cache/rainrag/models")).expanduser()


class ModelSpec(BaseModel):
    """One role's model: `kind` picks the adapter class, the rest configures it."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    model_id: str | None = None          # Hugging Face repo id, or a folder name under the models dir
    revision: str | None = None          # a commit or tag of `model_id`; None = whatever is local
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"   # auto: bf16 on CUDA, fp32 on CPU
    device: str = "auto"                 # auto: cuda when present, else cpu
    batch_size: int = Field(16, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)   # adapter-specific settings, all fingerprinted

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "model_id": self.model_id, "revision": self.revision,
                "dtype": self.dtype, "options": self.options}


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    models_dir: Path = DEFAULT_MODELS_DIR    # local folders named by model id are tried first
    roles: dict[str, ModelSpec]

    def model_post_init(self, _: Any) -> None:
        unknown = sorted(set(self.roles) - set(ROLES))
        missing = sorted(set(ROLES) - set(self.roles))
        if unknown or missing:
            raise ValueError(f"profile {self.name!r}: unknown roles {unknown}, missing roles {missing}; "
                             f"the roles are {sorted(ROLES)}")

    def identity(self, *roles: str) -> dict[str, Any]:
        """What the given roles contribute to a stage fingerprint."""
        return {role: self.roles[role].identity() for role in roles}

    def with_role(self, role: str, **changes: Any) -> "Profile":
        spec = self.roles[role].model_copy(update=changes)
        return self.model_copy(update={"roles": {**self.roles, role: spec}})


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | Path, models_dir: str | Path | None = None) -> Profile:
    """A built-in profile by name, or a YAML file; `models_dir` overrides the profile's."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ValueError(f"unknown profile {str(name_or_path)!r}; built-in profiles: {', '.join(profile_names())}"
                             " (or pass the path of a profile YAML file)")
    if not path.is_file():
        raise FileNotFoundError(f"profile file {path} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if models_dir is not None:
        data["models_dir"] = str(models_dir)
    data.setdefault("name", path.stem)
    return Profile.model_validate(data)
