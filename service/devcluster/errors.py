"""`ApiError`: a failed request and the Kubernetes `Status` body it answers with."""

from __future__ import annotations

from service.devcluster.resources import JsonObj, ResourceType


class ApiError(Exception):
    """A failed request, carrying what the server puts in the `Status` body."""

    def __init__(self, code: int, reason: str, message: str, details: JsonObj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JsonObj:
        """The `Status` object real Kubernetes sends for this error."""
        body: JsonObj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        body["message"] = self.message
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)

    @classmethod
    def not_found(cls, rtype: ResourceType, name: str) -> ApiError:
        return cls(404, "NotFound", f'{rtype.resource} "{name}" not found', rtype.details(name))

    @classmethod
    def conflict(cls, rtype: ResourceType, name: str) -> ApiError:
        message = (
            f'Operation cannot be fulfilled on {rtype.resource} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again"
        )
        return cls(409, "Conflict", message, rtype.details(name))
