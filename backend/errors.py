"""The services' error types, each carrying the HTTP status it deserves.

The services raise these for requests they refuse; ``app.py`` answers each with its
``status`` and ``{"detail": message}``. The trainer's ``CheckpointError`` and
``DatasetError`` (a file the server cannot use) are mapped to 409 there too. Any other
exception is a defect and answers 500, rather than passing for bad input.
"""


class ServiceError(Exception):
    """A refused request; subclasses set ``status``."""

    status = 400

    @property
    def headers(self) -> dict[str, str] | None:
        return None


class InvalidInput(ServiceError):
    """A parameter or body the operation cannot take."""

    status = 422


class UnknownItem(ServiceError, LookupError):
    """An unknown model, sample or job."""

    status = 404


class TooLarge(ServiceError):
    """An upload over the size or decoding limits."""

    status = 413


class UnsupportedImage(ServiceError):
    """An upload that is no decodable image."""

    status = 415


class Busy(ServiceError):
    """Too much work waits already; ``retry_after`` is in seconds."""

    status = 429

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
