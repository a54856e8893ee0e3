"""The ``postflow`` command line. A ``.env`` that cannot be read stops it here, in one line,
before Prefect (which reads ``.env`` when imported) can print a traceback."""

from config.dotenv_file import exit_if_dotenv_unreadable, warn_once

warn_once()
exit_if_dotenv_unreadable()
