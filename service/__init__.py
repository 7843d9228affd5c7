"""kuberay-apiserver: a REST and gRPC API for Ray on Kubernetes with an SQL audit trail."""

__version__ = "0.1.0"
