"""The one exception type the CLI turns into a one-line message and exit code 2.

Anything a user can cause (a bad setting, a missing tool, an unreachable broker, bad command-line
input) raises `UsageError` with a message that names the problem and, where there is one, the fix.
"""


class UsageError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""

    exit_code = 2
