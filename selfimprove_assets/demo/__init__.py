"""``selfimprove demo``: the loop (``run``) and what it reports (``report``)."""

from selfimprove_assets.demo.run import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
