"""The pure checkpoint module: the token verifier, the offline bundle and JWKS readers,
and ``python -m checkpoints.verify`` for a gate without a server.

Nothing here imports ``backend``, Flask or SQLAlchemy (``tests/unit/test_layers.py``);
the HTTP side of checkpoints and scans is ``backend/api/checkpoints.py``.
"""
