"""The REST API (FastAPI) and the review page: ``create_app`` in ``app``, ``serve`` in ``server``.

Nothing is imported here so that ``import selfimprove_assets.api`` stays cheap.
"""
