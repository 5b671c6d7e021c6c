"""Adapters of neural models the `paper` profile names (BLIP, the chat expander, KeyBERT, OpenCLIP,
sentence-transformers). Which kind lives in which module is listed in models.pipeline.registry.
"""
