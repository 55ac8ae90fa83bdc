"""The error types tandem raises, so callers can catch by meaning rather than by message.

Every error says what was wrong and where (which file, field, device or payload offset).
"""


class TandemError(Exception):
    """Base class of every error tandem raises on purpose."""


class ConfigError(TandemError, ValueError):
    """A component was given an argument or configuration value it cannot use."""


class DataError(TandemError, ValueError):
    """A data file exists but its content is not what the loader expects (names file and line)."""


class DataNotFoundError(TandemError, FileNotFoundError):
    """A data set's files are not where the loader looked (names every place it tried)."""


class PayloadError(TandemError, ValueError):
    """A wire payload is malformed: truncated, wrong magic or version, bad header, NaN/Inf, wrong shape."""


class TransportError(TandemError):
    """A message could not be delivered: unknown device, closed transport, oversized payload."""
