"""Error hierarchy mapped to exit codes, so the CLI never shows a traceback for bad input."""


class QuantflowError(Exception):
    """Base of every error quantflow raises on purpose."""

    exit_code = 1


class UserInputError(QuantflowError):
    """Bad config, data or model supplied by the user: one line, exit code 2."""

    exit_code = 2


class TargetNotReachedError(QuantflowError):
    """The requested accuracy could not be reached; the best result was still saved."""

    exit_code = 3


class IncompleteError(QuantflowError):
    """Some entries of a batch (zoo build or verify) failed; the others were done and the failures listed."""

    exit_code = 4
