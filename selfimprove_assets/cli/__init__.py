"""``selfimprove``, the command line: the Typer ``app`` (the console script) and ``main``."""

from selfimprove_assets.cli.main import app, main

__all__ = ["app", "main"]
