"""The one error type of the data layer: a message a user can act on, never a bare traceback."""


class DataError(ValueError):
    """Bad or missing data: says what was wrong, the value received and how to fix it.

    `python -m t5x_style.data` prints these as one message and exits with status 1.
    """
