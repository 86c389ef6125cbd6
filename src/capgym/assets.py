"""Where local artefacts live: the offline assets folder and capgym's download cache.

Both are read from the environment at call time, never at import:
``CAPGYM_ASSETS`` (models, tokenizers, corpora that cannot be downloaded) and
``CAPGYM_CACHE`` (default ``~/.cache/capgym``).

>>> import os
>>> os.environ["CAPGYM_CACHE"] = "/tmp/capgym-cache"
>>> str(cache_dir())
'/tmp/capgym-cache'
"""

from __future__ import annotations

import os
from pathlib import Path


def assets_dir() -> Path | None:
    """The folder named by ``CAPGYM_ASSETS``, or None when unset or not a folder."""
    root = os.environ.get("CAPGYM_ASSETS")
    if not root:
        return None
    path = Path(root).expanduser()
    return path if path.is_dir() else None


def cache_dir() -> Path:
    """``CAPGYM_CACHE`` or ``~/.cache/capgym`` (not created here)."""
    root = os.environ.get("CAPGYM_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "capgym"
