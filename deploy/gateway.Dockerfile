# One image for the modelgate gateway and its scheduled jobs; the compose command picks the role.
# Build from the repository root: docker build -f deploy/gateway.Dockerfile .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DO_NOT_TRACK=1

WORKDIR /src
COPY pyproject.toml README.md* ./
COPY gateway gateway
COPY adapters adapters
COPY monitoring monitoring
COPY evals evals
RUN pip install .

WORKDIR /data
EXPOSE 8000
CMD ["modelgate", "serve", "--config", "/data/modelgate.yaml", "--host", "127.0.0.1", "--port", "8000"]
