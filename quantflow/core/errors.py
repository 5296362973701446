"""Error hierarchy mapped to exit codes, so the CLI never shows a traceback for bad input."""


def shown(value: object) -> str:
    """A user's value as it may appear in a one-line message: control characters (NUL, newlines) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))


def one_line(message: object) -> str:
    """A message as one printable line: line breaks joined with '; ', other control characters escaped."""
    return shown("; ".join(line.strip() for line in str(message).splitlines() if line.strip()))


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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C, so every cleanup that runs for SIGINT runs for it too."""
