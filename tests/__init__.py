"""The tests let Python cache compiled modules, for themselves and every process they start,
even where the environment asks it not to (``PYTHONDONTWRITEBYTECODE``, set on this project's
machines).

The README's test command installs without byte-compiling (``pip install --no-compile``): pip
would spend about 45 s of one core compiling every module of torch, scipy, DVC... before the
first test. With the cache allowed, the run compiles only the modules it imports, once; with
it forbidden, each of the run's hundreds of processes (Snakemake's and DVC's jobs, the probes)
would compile every module it imports, torch's included, from source. This package runs before
conftest.py imports anything.
"""

import os
import sys

os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
