# imagegate serve: OpenAI's Images API in front of imagegate's routers (docs/gateway.md).
#
#   docker build -t imagegate-gateway .
#   docker run -p 8080:8080 -v $PWD/gateway.toml:/etc/imagegate/gateway.toml:ro \
#     -e GEMINI_API_KEY -e IMAGEGATE_REDIS_URL imagegate-gateway
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# The redis client for replicas on RedisState, and the OpenTelemetry SDK and Prometheus
# exporter for /metrics; every version from the committed lock.
RUN pip install -c constraints.txt ".[redis]" opentelemetry-sdk opentelemetry-exporter-prometheus \
    && useradd --system --uid 10001 --no-create-home imagegate

USER imagegate
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
ENTRYPOINT ["imagegate", "-v", "serve", "--host", "0.0.0.0", "--port", "8080"]
CMD ["--config", "/etc/imagegate/gateway.toml"]
