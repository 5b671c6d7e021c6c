"""Pure retrieval computations: FAISS text index, the visual and structural re-rankers, contact sheets."""
