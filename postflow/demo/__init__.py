"""``postflow demo``: the whole pipeline on one machine against the sandbox, in-process or
through ``up``."""
