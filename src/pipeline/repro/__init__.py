"""Beside the DAG: dvc.yaml generation, pinned artefacts, the AUC regression, numerics."""
