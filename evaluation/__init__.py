"""Evaluation: named PSNR/SSIM protocols, test sets, inference, the `results` table and the report.

Metrics are evaluation, not models: nothing here imports Prefect (tasks.benchmark wraps it) and every
number this package produces carries the name of the protocol that made it (evaluation.protocols).
"""
