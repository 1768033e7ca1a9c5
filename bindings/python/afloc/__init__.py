"""afloc: Python side of libafloc.

For now this package holds the checkpoint converter (`python -m afloc.convert`, see convert.py).
The ctypes bindings of the whole C API (_capi.py and a Pythonic layer) arrive with the Python
bindings issue; convert.py binds only the few functions it needs.
"""
__all__ = ["convert"]
