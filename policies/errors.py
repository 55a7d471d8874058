"""Exception tree of the policies package."""


class PolicyError(Exception):
    """Base class for policy errors."""


class PolicyFileError(PolicyError):
    """A policy file is missing, unreadable or fails validation (raised at startup)."""
