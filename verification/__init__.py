"""Verification: JCM methodology calculations over monitoring periods.

Pure functions (``methodologies``, ``aggregation``, ``gaps``, ``calibration``,
``resolve``, ``engine``) over data loaded at the edge (``loading``: the stores, and the
versioned parameter tables and gap rules, ``data/<methodology>/<version>.yaml``, in an
``inputs.Rulebook``), and renderers (``render``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jcm-mrv")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"
