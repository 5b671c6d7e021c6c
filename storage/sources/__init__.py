"""Dataset sources: the 36 public rain datasets declared as data, and the walk that pairs their files.

A dataset is a name, its published metadata and an ordered list of rules (see `layout.py`); the
built-in declarations live in `layouts/*.yaml`, grouped by pairing kind. Users add or correct a
dataset with the same YAML (`--layouts FILE`).
"""
