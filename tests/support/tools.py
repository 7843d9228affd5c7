"""Where the tests find the tools and data that ``make tools`` builds or fetches into the user cache.

Versions are pinned once, in ``hack/versions.sh``; this module reads the same lines.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VERSIONS = REPO_ROOT / "hack" / "versions.sh"


@cache
def pin(name: str) -> str:
    """The value of ``NAME=value`` in ``hack/versions.sh``."""
    match = re.search(rf"^{name}=(\S+)$", VERSIONS.read_text(), re.MULTILINE)
    if match is None:
        raise KeyError(f"{name} is not pinned in {VERSIONS}")
    return match.group(1)


def cache_root() -> Path:
    """The project's tool cache (the same rule as the hack/ scripts)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "kuberay-apiserver"


def cache_bin_dir() -> Path:
    return cache_root() / "bin"


@cache
def crd_dir() -> Path:
    """The Ray CRDs: ``$KUBERAY_CRD_DIR``, else the pinned release fetched from the Go module proxy (cached)."""
    if configured := os.environ.get("KUBERAY_CRD_DIR"):
        return Path(configured)
    cached = cache_root() / "crds" / pin("KUBERAY_VERSION")
    if not (cached / "ray.io_rayclusters.yaml").is_file():
        result = subprocess.run(
            ["bash", str(REPO_ROOT / "hack" / "fetch-crds.sh")], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"cannot fetch the Ray CRDs (hack/fetch-crds.sh): {result.stderr.strip()}")
        cached = Path(result.stdout.strip())
    return cached
