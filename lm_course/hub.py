"""The Hugging Face hub, asked the same way by GPT-2's weights and tokenizer.

Explained in ``06_gpt2_sampling.ipynb``, section "Loading GPT-2 into our own
GPT": the local cache first, never the network in offline mode, and a quick
reachability probe so that a machine without network fails at once (with a
message saying how to get the files) instead of retrying for half a minute.
Used by :mod:`lm_course.gpt2_weights` and :mod:`lm_course.tokenizers.gpt2`.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

__all__ = ["HubUnavailable", "is_offline", "hub_reachable"]


class HubUnavailable(OSError):
    """Files that are not cached and cannot be fetched from the hub (offline)."""


def is_offline(local_files_only: bool | None = None) -> bool:
    """``local_files_only`` if given, else whether ``HF_HUB_OFFLINE`` (or
    ``TRANSFORMERS_OFFLINE``) is set."""
    if local_files_only is not None:
        return bool(local_files_only)
    return any(os.environ.get(v, "").strip().upper() in ("1", "ON", "YES", "TRUE")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can we open a connection to the hub (``HF_ENDPOINT`` honoured)? A DNS
    failure answers at once."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # behind a proxy a direct probe means nothing: let huggingface_hub try
    from huggingface_hub import constants  # transformers' dependency: imported only when asked

    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False
