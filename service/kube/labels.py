"""Label and annotation keys, API group, versions and resource names shared with upstream KubeRay."""

from __future__ import annotations

from typing import Final

GROUP: Final = "ray.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

RAY_CLUSTER_KIND: Final = "RayCluster"
RAY_CLUSTER_PLURAL: Final = "rayclusters"
RAY_JOB_KIND: Final = "RayJob"
RAY_JOB_PLURAL: Final = "rayjobs"
RAY_SERVICE_KIND: Final = "RayService"
RAY_SERVICE_PLURAL: Final = "rayservices"

# Labels on the custom resources the API creates.
USER_LABEL: Final = "ray.io/user"
CLUSTER_NAME_LABEL: Final = "ray.io/cluster-name"
RAY_VERSION_LABEL: Final = "ray.io/version"
ENVIRONMENT_LABEL: Final = "ray.io/environment"
APP_NAME_LABEL: Final = "app.kubernetes.io/name"
APP_NAME: Final = "kuberay"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "kuberay-apiserver"
MANAGED_BY_SELECTOR: Final = f"{MANAGED_BY_LABEL}={MANAGED_BY}"

# Set by the operator on pods; used in job cluster selectors.
RAY_CLUSTER_LABEL: Final = "ray.io/cluster"

# Compute templates are ConfigMaps with these labels.
CONFIG_TYPE_LABEL: Final = "ray.io/config-type"
COMPUTE_TEMPLATE_CONFIG_TYPE: Final = "compute-template"
COMPUTE_TEMPLATE_SELECTOR: Final = f"{CONFIG_TYPE_LABEL}={COMPUTE_TEMPLATE_CONFIG_TYPE}"

# Used both as a ConfigMap label and as a pod template annotation.
COMPUTE_TEMPLATE_KEY: Final = "ray.io/compute-template"
COMPUTE_TEMPLATE_LABEL: Final = COMPUTE_TEMPLATE_KEY
COMPUTE_TEMPLATE_ANNOTATION: Final = COMPUTE_TEMPLATE_KEY
COMPUTE_IMAGE_ANNOTATION: Final = "ray.io/compute-image"

CREATION_TIMESTAMP_ANNOTATION: Final = "ray.io/creation-timestamp"
UPDATE_TIMESTAMP_ANNOTATION: Final = "ray.io/update-timestamp"
ENABLE_SERVE_SERVICE_ANNOTATION: Final = "ray.io/enable-serve-service"
