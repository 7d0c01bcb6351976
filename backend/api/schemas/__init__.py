"""Request and response bodies, one module per blueprint.

The rule: the bodies of ``backend/api/<blueprint>.py`` live in
``backend/api/schemas/<blueprint>.py``, and a view module defines no schema. Field
types, patterns, the error body, and bodies that routes of two blueprints answer with
live in ``common``. Import from the module itself; this package re-exports nothing.

Class names are the OpenAPI component names (flask-smorest names a component after
its class, less ``Schema``): renaming a class changes the published document.
"""
