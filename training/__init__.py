"""Training of the restoration networks on RainRAG: data, loop, checkpoints, curves and the layout builder.

Plain functions and classes, no Prefect: `flows/train.py` orchestrates them, `torchrun` runs them per GPU.
"""
