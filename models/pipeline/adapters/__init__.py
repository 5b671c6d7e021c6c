"""Every adapter module, imported explicitly so that an import error is loud.

Each module registers its factories with `models.pipeline.profiles.register_adapter(kind)`.
"""
from models.pipeline.adapters import blip, chat_expander, keybert, open_clip, sentence_transformer  # noqa: F401
from models.pipeline.offline import descriptive, descriptors, niqe  # noqa: F401
from models.pipeline.judges import endpoint, offline as offline_judges, vlm  # noqa: F401
