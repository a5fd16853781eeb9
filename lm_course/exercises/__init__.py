"""Automatic checkers for the exercises at the end of each notebook.

One module per chapter (``ch00`` ... ``ch07``); each ``check_...(answer)``
prints a clear pass or a hint and returns ``True``/``False``.
"""
