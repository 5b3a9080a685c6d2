"""Weight interpolation and model merging over checkpoints of one architecture."""
