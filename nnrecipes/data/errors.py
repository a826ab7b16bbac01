"""The one error the data layer raises for problems a user can fix."""


class DataError(RuntimeError):
    """Data that is missing, unreadable or unusable; the message says where and what to do."""


class DataNotFound(DataError):
    """The files are not where nnrun looked; downloading may help."""
