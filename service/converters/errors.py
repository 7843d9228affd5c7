"""The error converters raise when a request cannot be turned into a Kubernetes object."""

from __future__ import annotations


class BuildError(Exception):
    """A request that passed validation but cannot be built into a custom resource.

    ``detail`` is upstream's inner text (for example ``storage for ephemeral volume is empty``); managers wrap
    it into the API error of the operation.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MissingTemplateError(BuildError):
    """A group names a compute template that is not in the mapping given to the converter."""

    def __init__(self, name: str) -> None:
        super().__init__(f"compute template {name!r} not found")
        self.name = name
