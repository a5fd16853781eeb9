"""pytest configuration shared by the unit tests and nbval.

nbval compares the outputs of notebook cells marked ``# NBVAL_CHECK_OUTPUT``
(we run it with ``--nbval-lax``). Some outputs can never match between runs:
HTML and JavaScript that embed random element ids (bertviz views, widget
views, progress bars). Here we tell nbval not to compare those MIME types,
so a checked cell compares only its text output.
"""

from __future__ import annotations

import os

# Notebooks and tests never touch the network for models: hub look-ups fail
# fast instead of hanging when the machine is offline.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

_RANDOM_ID_OUTPUTS = ("text/html", "application/javascript", "text/markdown")


def pytest_collectstart(collector):
    """Extend nbval's list of output keys it does not compare."""
    try:
        from nbval.plugin import IPyNbFile
    except ImportError:  # nbval not installed: nothing to configure
        return
    if isinstance(collector, IPyNbFile):
        collector.skip_compare = tuple(collector.skip_compare) + _RANDOM_ID_OUTPUTS


def pytest_collection_modifyitems(config, items):
    """nbval's items (a notebook's cells) are marked ``notebook``: ``-m "not notebook"`` leaves them out."""
    import pytest

    config.addinivalue_line("markers", "notebook: a notebook cell run by nbval")
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:
        return
    for item in items:
        if isinstance(item, IPyNbCell):
            item.add_marker(pytest.mark.notebook)
