"""The bottom layer: the error tree (:mod:`core.errors`), the loopback server thread
(:mod:`core.loopback`), unit formatting (:mod:`core.units`) and where our log lines go
(:mod:`core.logs`). Imports nothing of ours.

Importing this package does nothing but define it: Prefect is imported by the modules that use
it, so ``postflow --help`` starts without it. Our ``postflow.*`` loggers reach the Prefect run
logs because each is created by :func:`core.logs.run_logger`, which routes them on first use.
"""
