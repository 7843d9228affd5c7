"""HTTP layer: thin Litestar handlers under ``/apis/v1`` and ``/apis/v1alpha2``."""
