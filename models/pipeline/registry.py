"""Every adapter kind a profile can name, where its factory lives, and `load_role`, which builds one.

The table is explicit: the module holding a kind is imported when a role of that kind is first loaded
(so the `offline` profile never imports transformers, and no module registers itself on import: no
import cycle through profiles). Extensions and tests add their own kinds with `register_adapter`.
"""
from __future__ import annotations

import importlib
import json
import threading
from typing import Any, Callable

from models.pipeline.profiles import ModelSpec, Profile

Factory = Callable[[ModelSpec, Profile], Any]
Preparer = Callable[[ModelSpec, Profile], None]

# kind -> "module:factory"; factory(spec, profile) -> an object implementing the role's interface
ADAPTERS: dict[str, str] = {
    "blip": "models.pipeline.adapters.blip:BlipCaptioner",
    "chat_expander": "models.pipeline.adapters.chat_expander:ChatExpander",
    "keybert": "models.pipeline.adapters.keybert:KeyBertExtractor",
    "open_clip": "models.pipeline.adapters.open_clip:OpenClipEncoder",
    "sentence_transformer": "models.pipeline.adapters.sentence_transformer:SentenceTransformerEncoder",
    "niqe": "models.pipeline.offline.niqe:niqe_adapter",
    "descriptive_captioner": "models.pipeline.offline.descriptive:descriptive_captioner",
    "descriptive_expander": "models.pipeline.offline.descriptive:descriptive_expander",
    "descriptors": "models.pipeline.offline.descriptors:DescriptorEncoder",
    "rain_layer_judge": "models.pipeline.judges.offline:rain_layer_judge",
    "background_judge": "models.pipeline.judges.offline:background_judge",
    "clean_image_judge": "models.pipeline.judges.offline:clean_image_judge",
    "vlm_judge": "models.pipeline.judges.vlm:vlm_judge",
    "endpoint_judge": "models.pipeline.judges.endpoint:endpoint_judge",
}
# kind -> "module:prepare": builds a local model (a fitted IQA model) that `make models` makes instead of
# downloading
PREPARERS: dict[str, str] = {"niqe": "models.pipeline.offline.niqe_fitting:prepare_niqe"}
# kinds whose models want a GPU when there is one (neural networks of more than a few million weights);
# an engine gives a stage a GPU only when one of its roles is of such a kind
GPU_KINDS = frozenset({"blip", "chat_expander", "open_clip", "vlm_judge"})

_registered: dict[str, Factory] = {}
_loaded: dict[tuple, Any] = {}
_loading = threading.Lock()


def register_adapter(kind: str, factory: Factory) -> None:
    """Add a kind of one's own (an extension's, a test's); the built-in kinds cannot be replaced."""
    if kind in ADAPTERS or _registered.get(kind, factory) is not factory:
        raise ValueError(f"adapter kind {kind!r} registered twice")
    _registered[kind] = factory


def known_kinds() -> list[str]:
    return sorted({*ADAPTERS, *_registered})


def _resolve(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def adapter(kind: str) -> Factory:
    if kind in _registered:
        return _registered[kind]
    if kind not in ADAPTERS:
        raise ValueError(f"unknown adapter kind {kind!r}; known kinds: {', '.join(known_kinds())}")
    return _resolve(ADAPTERS[kind])


def preparer(kind: str) -> Preparer | None:
    return _resolve(PREPARERS[kind]) if kind in PREPARERS else None


def wants_gpu(spec: ModelSpec) -> bool:
    return spec.kind in GPU_KINDS


def load_role(profile: Profile, role: str) -> Any:
    """The model for `role`, built once per process (stages on several threads share it)."""
    spec = profile.roles[role]
    if spec.kind not in ADAPTERS and spec.kind not in _registered:
        raise ValueError(f"profile {profile.name!r}, role {role!r}: unknown adapter kind {spec.kind!r}; "
                         f"known kinds: {', '.join(known_kinds())}")
    key = (json.dumps(spec.model_dump(), sort_keys=True, default=str), str(profile.models_dir))
    with _loading:
        if key not in _loaded:
            _loaded[key] = adapter(spec.kind)(spec, profile)
        return _loaded[key]


def release_models() -> int:
    """Drop every model this process built (a worker moving on to a stage with other models: their GPU
    memory is given back before the next ones load). Returns how many were dropped."""
    import gc
    import sys

    with _loading:
        dropped = len(_loaded)
        _loaded.clear()
    gc.collect()
    torch = sys.modules.get("torch")   # only a process that imported torch has CUDA memory to give back
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    return dropped
