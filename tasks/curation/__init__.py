"""From votes to RainRAG: what the images show, the subset of each pair, the train/test split, export."""
