"""The ``postflow`` commands: the typer app (:mod:`.main`), its sub-commands and the terminal
they share."""
