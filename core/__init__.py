"""The bottom layer: the error tree (:mod:`core.errors`), the loopback server thread
(:mod:`core.loopback`) and unit formatting (:mod:`core.units`). Imports nothing of ours."""
