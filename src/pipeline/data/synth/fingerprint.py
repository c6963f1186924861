"""The generator's fingerprint: a hash of this package's own source code.

It is the cache key of the rendered audio. Any edit of the package changes it, so a change that
can change the audio always regenerates the clips and nobody has to remember to bump a version
number. It is conservative on purpose: an edit that cannot change the audio (a comment, a
docstring) also regenerates them, which costs about a minute of rendering, whereas a missed
version bump would silently leave stale clips behind (the wrong trade for a reproducible
pipeline). Shared inputs outside the package (the sample rate, the seed) are separate fields of
the key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
"""The folder of the ``pipeline.data.synth`` sources."""


def generator_fingerprint(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 (hex) over the ``*.py`` files of ``package_dir``, by name, with their bytes.

    Each file's name and length enter the hash before its bytes, so renaming, adding or removing
    a module changes the fingerprint too.
    """
    digest = hashlib.sha256()
    for source in sorted(package_dir.glob("*.py"), key=lambda path: path.name):
        data = source.read_bytes()
        digest.update(f"{source.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()
