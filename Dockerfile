# syntax=docker/dockerfile:1
# kuberay-apiserver image: REST on 8888, gRPC on 8887.
#
#   docker build -t kuberay-apiserver:0.1.0 .
#   docker run --rm -p 8888:8888 -p 8887:8887 kuberay-apiserver:0.1.0 serve --host 0.0.0.0 --dev-cluster
#
# Both stages use the same base so the virtualenv's interpreter path (/usr/local/bin/python3) exists
# in the final image. Bump the tag deliberately; it is pinned for reproducible builds.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python -m venv /opt/venv

WORKDIR /src
# Only what the wheel is built from; .dockerignore keeps the rest of the tree out of the context.
COPY pyproject.toml README.md ./
COPY service/ service/
COPY migrations/ migrations/

# Build the project's wheel in isolation, then install it with its dependencies into the venv.
# pip byte-compiles on install, so the read-only image never needs to write .pyc files.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install /wheels/*.whl


FROM ${PYTHON_IMAGE}

# Declared before the first FROM; repeated to use it in a label.
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="kuberay-apiserver" \
      org.opencontainers.image.description="REST and gRPC API for Ray on Kubernetes, wire-compatible with the KubeRay APIServer" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

COPY --from=builder /opt/venv /opt/venv

# The default database URL is ./kuberay-apiserver.db, so the working directory is where SQLite
# writes: owned by the runtime user here, and a volume mount in Kubernetes (the chart mounts /data).
WORKDIR /data
RUN chown 65532:65532 /data

USER 65532:65532
EXPOSE 8888 8887
STOPSIGNAL SIGTERM
ENTRYPOINT ["kuberay-apiserver"]
CMD ["serve", "--host", "0.0.0.0"]
