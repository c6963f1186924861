"""Beside the DAG: ``e2e-tag``, the trained networks applied to anyone's audio files."""
