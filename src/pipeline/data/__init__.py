"""Stage 1, data: get a dataset in MagnaTagATune's layout, split it by part, decode its audio."""
