"""Restoration networks: UniRain and its baselines, built by name through `registry.build`.

Each network module is imported here explicitly so that `@register` fills `registry.NETWORKS`.
"""
from models.restoration import prenet, restormer, unirain

__all__ = ["prenet", "restormer", "unirain"]
