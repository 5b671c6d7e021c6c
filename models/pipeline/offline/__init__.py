"""The `offline` profile's own models: real signal from classical image statistics, no weights to download.

- `niqe`: NIQE-style no-reference quality, fitted on clean images (role `quality`);
- `descriptive`: measured captions and their rule-based expansion (roles `captioner`, `expander`);
- `descriptors`: weight-free colour and gradient descriptors (role `image_encoder`).

Which kind lives in which module is listed in models.pipeline.registry.
"""
