"""Helpers shared by the test suite: real servers on 127.0.0.1 and small fixtures' building blocks.

Import them as ``from support.servers import uvicorn_thread`` (``tests/`` is on ``sys.path`` because
``tests/conftest.py`` sits at its root without an ``__init__.py``).
"""
