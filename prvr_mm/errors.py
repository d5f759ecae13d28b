"""The user errors of prvr_mm: one root, one class per kind of input.

Every error that a user can fix (a bad file, option, config value,
checkpoint or index) is a :class:`PRVRError`; the tools print it as one
``error: ...`` line and exit 2, anything else is a bug and keeps its
traceback. Each subclass also derives from the builtin exception that the
same mistake raised before (``ValueError``, ``RuntimeError``, ``KeyError``),
so existing ``except ValueError`` callers keep working.

=========================  ===========================  ==================
class                      raised for                   builtin base
=========================  ===========================  ==================
:class:`PRVRError`         root of every user error     ``Exception``
:class:`PRVRDataError`     features, captions, meta,    ``ValueError``
                           videos, folders
:class:`PRVRConfigError`   config values and options    ``ValueError``
:class:`CheckpointError`   checkpoint files and weights ``RuntimeError``
:class:`SearchIndexError`  search index files           ``ValueError``
:class:`DependencyError`   a missing optional package   ``ImportError``
=========================  ===========================  ==================
"""

__all__ = [
    'PRVRError', 'PRVRDataError', 'PRVRConfigError', 'CheckpointError',
    'SearchIndexError', 'DependencyError'
]


class PRVRError(Exception):
    """Root of the errors a user can fix; the message names the file, key
    or value, what was expected and the fix."""


class PRVRDataError(PRVRError, ValueError):
    """Invalid or missing PRVR data; the message names file, key, shape."""


class PRVRConfigError(PRVRError, ValueError):
    """A config value or command-line option that cannot work."""


class CheckpointError(PRVRError, RuntimeError):
    """A checkpoint that cannot be used or does not fit the model."""


class SearchIndexError(PRVRError, ValueError):
    """Invalid, corrupt or mismatched search index file."""


class DependencyError(PRVRError, ImportError):
    """An optional package a tool needs is not installed; the message
    names the package and the install line."""
