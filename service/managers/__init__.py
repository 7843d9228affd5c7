"""Business layer: validation, compute-template resolution, Kubernetes calls and SQL records."""
