"""WSGI entry point: ``gunicorn wsgi:app`` or ``flask --app wsgi run``."""

import gc

from backend import create_app

app = create_app()
# Everything made at start-up lives as long as the process: keep the collector off it.
gc.collect()
gc.freeze()
