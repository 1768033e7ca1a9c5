"""Finding and loading libafloc.so.

Where the library is looked for, in order:

1. the ``AFLOC_LIBRARY`` environment variable (a file path); when it is set it is the only place
   tried, so a wrong value is an error rather than a silent fall-back to another copy;
2. next to this package (``afloc/libafloc.so*``), for wheels that bundle the library;
3. a build tree, when the package runs from a source checkout: ``<repo>/build/libafloc.so``
   first, then the most recently built ``<repo>/build*/libafloc.so``;
4. the system: ``ctypes.util.find_library("afloc")`` and the loader's search path
   (``libafloc.so.0``, ``libafloc.so``), e.g. after ``cmake --install``.

If none loads, :class:`LibraryNotFoundError` lists every place tried and why it failed.
"""
import ctypes
import ctypes.util
import glob
import os

__all__ = ["LibraryNotFoundError", "candidates", "load_library"]

ENV_VAR = "AFLOC_LIBRARY"


class LibraryNotFoundError(ImportError):
    """libafloc.so could not be found or loaded; the message lists where it was looked for."""


def _package_dir():
    return os.path.dirname(os.path.abspath(__file__))


def _build_tree_candidates():
    # bindings/python/afloc/_library.py -> the repository root is three folders up.
    root = os.path.abspath(os.path.join(_package_dir(), "..", "..", ".."))
    if not os.path.isfile(os.path.join(root, "include", "afloc", "afloc.h")):
        return []
    found = glob.glob(os.path.join(root, "build*", "libafloc.so"))
    preferred = os.path.join(root, "build", "libafloc.so")
    others = sorted((p for p in found if p != preferred), key=os.path.getmtime, reverse=True)
    return ([preferred] if preferred in found else []) + others


def candidates():
    """The (description, path) pairs tried, in order, ignoring AFLOC_LIBRARY."""
    out = []
    for path in sorted(glob.glob(os.path.join(_package_dir(), "libafloc.so*"))):
        out.append(("next to the package", path))
    for path in _build_tree_candidates():
        out.append(("build tree", path))
    system = ctypes.util.find_library("afloc")
    if system:
        out.append(("ctypes.util.find_library", system))
    out.append(("loader search path", "libafloc.so.0"))
    out.append(("loader search path", "libafloc.so"))
    return out


def load_library(path=None):
    """Loads libafloc and returns the ctypes.CDLL. `path` (or $AFLOC_LIBRARY) names one file."""
    explicit = path or os.environ.get(ENV_VAR)
    if explicit:
        where = "argument" if path else "$" + ENV_VAR
        if not os.path.exists(explicit):
            raise LibraryNotFoundError("libafloc: %s names %r, which does not exist" % (where, explicit))
        try:
            return ctypes.CDLL(os.path.abspath(explicit))
        except OSError as e:
            raise LibraryNotFoundError("libafloc: %s names %r, which cannot be loaded: %s"
                                       % (where, explicit, e)) from None
    tried = []
    for description, candidate in candidates():
        try:
            return ctypes.CDLL(candidate)
        except OSError as e:
            tried.append("  %s: %s (%s)" % (description, candidate, e))
    raise LibraryNotFoundError(
        "libafloc.so not found. Set %s to its path (e.g. build/libafloc.so), install it "
        "(cmake --install build), or put it next to the afloc package. Tried:\n%s"
        % (ENV_VAR, "\n".join(tried)))
