"""The data layer of t5x_style (API summary written with the pipeline)."""
