"""Stage 4, evaluation: clip-level test AUCs, the paper's tables beside ours, the figures."""
