# The operator's image: `canary-operator run`, as a non-root user, liveness on :8080/healthz.
#
#   docker build -t REGISTRY/canary-operator:0.1.0 .
#
# Stage 1 builds the wheel and installs it into a virtualenv; stage 2 is a clean slim image
# that receives only that virtualenv, so no compiler, pip cache or source tree ships.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src/ src/
# The wheel carries the lab's example (pyproject's force-include).
COPY examples/podinfo/ examples/podinfo/

RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/canary-operator \
 && /opt/canary-operator/bin/pip install /wheels/canary_operator-*.whl


FROM python:3.11-slim

# The numeric user matches the chart's runAsUser; the root filesystem can be read-only
# (no bytecode is written at run time; HOME points at the /tmp the chart mounts).
RUN groupadd --system --gid 10001 canary \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /tmp --shell /usr/sbin/nologin canary

COPY --from=build /opt/canary-operator /opt/canary-operator

ENV PATH=/opt/canary-operator/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp

USER 10001:10001
# kopf's liveness endpoint (CANARY_OPERATOR_LIVENESS_ENDPOINT, default :8080/healthz).
EXPOSE 8080
ENTRYPOINT ["canary-operator", "run"]
