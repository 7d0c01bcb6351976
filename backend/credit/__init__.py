"""The formal credit-records store: lawful travel restrictions, kept apart from health data.

It has its own database (the ``credit`` bind, ``CREDIT_DATABASE_URL``) and imports
nothing from the health side. The rest of the service reads it only through
``backend.credit.reads``: "is this person restricted for category C right now?"
and the holder's own view of their restrictions. No code path writes health
data here, and nothing here changes a health code.
"""
