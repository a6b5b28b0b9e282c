"""``python -m selfimprove_assets.cli``: the same command line as ``selfimprove``."""

from selfimprove_assets.cli.main import main

main()
