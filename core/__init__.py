"""The bottom layer: the error tree (:mod:`core.errors`), the loopback server thread
(:mod:`core.loopback`), unit formatting (:mod:`core.units`) and where our log lines go
(:mod:`core.logs`). Imports nothing of ours.

Importing any module of ours imports this package, so the ``postflow.*`` loggers reach the
Prefect run logs in every process (CLI, served deployments, workers loading ``flows/*.py`` by
path, tests) without a setting in the user's environment.
"""

from core.logs import route_to_run_logs

route_to_run_logs()
