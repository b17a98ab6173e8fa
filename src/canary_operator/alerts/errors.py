"""What goes wrong with an alert, for the caller to log or record (never to crash on):

    Exception
     └── AlertError               an alert could not be sent; the message names the fix
          ├── AlertConfigError    the AlertProvider (or its Secret) gives no usable target
          └── AlertDeliveryError  the service refused the alert or could not be reached
"""

from __future__ import annotations


class AlertError(Exception):
    """An alert could not be sent; the message names the AlertProvider and the fix."""


class AlertConfigError(AlertError):
    """The AlertProvider, or the Secret it names, does not give a usable address."""


class AlertDeliveryError(AlertError):
    """The service answered with a non-2xx status (`status`), or could not be reached
    (`status` is None)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
