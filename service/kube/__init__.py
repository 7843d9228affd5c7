"""Kubernetes access: the client, its errors, and the permissions it needs."""
