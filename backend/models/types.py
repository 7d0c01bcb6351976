"""Column types of the health models (shared with the credit store via ``backend.dbtypes``)."""

from ..dbtypes import UTCDateTime, utcnow

__all__ = ["UTCDateTime", "utcnow"]
