"""Beside the DAG: ``e2e-tag``, the trained networks applied to anyone's audio files.

``cli`` (the command), ``inference`` (windows, ensembles, :func:`tag_files`), ``models``
(loading), ``formats`` (table/json/csv) and ``taggram`` (plots).
"""

from pipeline.tagging.inference import TagResult, tag_files

__all__ = ["TagResult", "tag_files"]
