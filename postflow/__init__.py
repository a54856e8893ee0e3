"""The ``postflow`` command line (:mod:`postflow.entry` is the console script)."""
