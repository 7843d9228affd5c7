"""The dev cluster: an in-memory emulation of the Kubernetes API this service uses, served over HTTP.

For `kuberay-apiserver serve --dev-cluster` and the test suite; never a substitute for a real cluster.
"""

from __future__ import annotations

from service.devcluster.requestlog import LoggedRequest
from service.devcluster.server import DevCluster, serve_dev_cluster

__all__ = ["DevCluster", "LoggedRequest", "serve_dev_cluster"]
