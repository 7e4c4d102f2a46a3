# LLMSim's image: `llmsim serve` as a non-root user, configured by environment.
#   docker build -t llmsim:latest .
#   docker run -p 8000:8000 llmsim:latest
# Settings (docs/deployment.md#docker): DATABASE_URL, REDIS_URL, DJANGO_SECRET_KEY,
# LLMSIM_ADMIN_USER / LLMSIM_ADMIN_PASSWORD, LLMSIM_CONFIG (a mounted YAML file) and the
# rest of docs/configuration.md. Without DATABASE_URL it keeps an SQLite database in
# /var/lib/llmsim (a volume).

# Stage 1: the virtual environment, with the package and its dependencies.
FROM debian:bookworm-slim AS build
# Names this stage's leftover images, so that tests can clear them and nothing else.
LABEL io.llmsim.stage=build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# The system's CA bundle, not pip's own: it holds any CA certificates added to the base.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/llmsim
# Dependencies first, in their own layer: a code change does not reinstall them.
COPY requirements.txt /src/requirements.txt
RUN /opt/llmsim/bin/pip install --quiet -r /src/requirements.txt
COPY . /src
# Then what only building needs goes: pip and setuptools, translations' sources (*.po;
# Django reads the compiled *.mo), bytecode caches (rewritten at start-up).
RUN /opt/llmsim/bin/pip install --quiet --no-deps /src \
    && /opt/llmsim/bin/pip uninstall --quiet --yes pip setuptools \
    && find /opt/llmsim \( -name '*.po' -o -name __pycache__ -prune \) -exec rm -rf {} +

# Stage 2: Python, tini and the environment; no compiler, no pip cache, no sources.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 llmsim \
    && useradd --uid 10001 --gid 10001 --home-dir /var/lib/llmsim --create-home --shell /usr/sbin/nologin llmsim
COPY --from=build /opt/llmsim /opt/llmsim
ENV PATH=/opt/llmsim/bin:$PATH \
    LLMSIM_DATA_DIR=/var/lib/llmsim \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# The uid the Kubernetes manifests run as (deploy/kubernetes/base/deployment.yaml).
USER 10001:10001
WORKDIR /var/lib/llmsim
VOLUME /var/lib/llmsim
EXPOSE 8000
# /health is answered before Django and touches no database.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
# tini as PID 1 passes SIGTERM on to the server (a process 1 without its own handler
# would ignore it) and reaps the worker processes: `docker stop` takes about a second.
ENTRYPOINT ["tini", "--", "llmsim"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
