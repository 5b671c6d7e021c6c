"""The pipeline's pretrained models: one small interface per role, concrete adapters, and profiles.

A profile (`profiles/<name>.yaml`) names, for every role, which adapter runs it and with which model
id, revision, dtype, device and batch size. Stages ask `load_role(profile, role)` for a model and
never name a concrete class, so switching `offline` for `paper` is a configuration change.
"""
