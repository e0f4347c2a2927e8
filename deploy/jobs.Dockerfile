# syntax=docker/dockerfile:1
# modelgate's scheduled jobs: drift, labels, performance, eval, log compaction and `modelgate schedule`.
# Build from the repository root:  docker build -f deploy/jobs.Dockerfile -t modelgate-jobs .
# Same layout as deploy/gateway.Dockerfile, plus the `jobs` extra (Evidently, Langfuse, openai, scipy, ...).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/modelgate
COPY requirements/jobs.lock /tmp/jobs.lock
RUN /opt/modelgate/bin/pip install --require-hashes --no-deps -r /tmp/jobs.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY adapters adapters
COPY monitoring monitoring
COPY evals evals
RUN /opt/modelgate/bin/pip install --no-deps .

FROM python:3.11-slim AS runtime
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin modelgate \
    && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/modelgate /opt/modelgate
# Evidently's telemetry client stays off: nothing here may call out to the internet.
ENV PATH=/opt/modelgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DO_NOT_TRACK=1 \
    MODELGATE_CONFIG=/data/modelgate.yaml
USER 10001:10001
WORKDIR /data
# A job's health is its exit code (0 healthy, 1 the watched condition, 2 bad input); for the long-running
# `modelgate schedule` loop, the check is that the installed commands import and the config loads.
HEALTHCHECK --interval=60s --timeout=20s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import monitoring.schedule, monitoring.config as c; c.load_monitoring_config(None)"]
CMD ["modelgate", "schedule"]
