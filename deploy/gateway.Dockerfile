# syntax=docker/dockerfile:1
# The modelgate gateway: `modelgate serve`, without the jobs' dependencies (no Evidently, Langfuse, scipy).
# Build from the repository root:  docker build -f deploy/gateway.Dockerfile -t modelgate-gateway .
# The scheduled jobs have their own image: deploy/jobs.Dockerfile.

# --- build: resolve nothing, install exactly the lockfile (hashes checked), then the package itself ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/modelgate
COPY requirements/gateway.lock /tmp/gateway.lock
RUN /opt/modelgate/bin/pip install --require-hashes --no-deps -r /tmp/gateway.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY adapters adapters
COPY monitoring monitoring
COPY evals evals
# --no-deps: every dependency came from the lockfile above; this adds only modelgate's own code.
RUN /opt/modelgate/bin/pip install --no-deps .

# --- runtime: the venv only, no compiler, no source tree, a non-root user ---
FROM python:3.11-slim AS runtime
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin modelgate \
    && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/modelgate /opt/modelgate
# Bind every interface through the config's env override (server.host), so a container port mapping or
# a Kubernetes Service reaches it; `modelgate init` on a laptop still writes 127.0.0.1.
ENV PATH=/opt/modelgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DO_NOT_TRACK=1 \
    MODELGATE_CONFIG=/data/modelgate.yaml \
    MODELGATE_SERVER__HOST=0.0.0.0 \
    MODELGATE_SERVER__PORT=8000
USER 10001:10001
WORKDIR /data
EXPOSE 8000 9464
# Liveness, not readiness: /healthz answers while the process serves; /readyz is for load balancers.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MODELGATE_SERVER__PORT', '8000'), timeout=2)"]
CMD ["modelgate", "serve"]
