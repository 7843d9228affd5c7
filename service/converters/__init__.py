"""Pure conversions between API messages and Kubernetes objects (ConfigMaps, RayClusters, RayJobs, ...)."""
