# The alb-rollouts controller image, for a machine with a Docker engine: `docker build -t alb-rollouts .`.
# Without one, `make image` builds the equivalent OCI image from Debian's packages (docs/image.md): the same
# user (10001), entrypoint (`alb-rollouts`) and command (`run`); k8s/base's Deployment passes `run` and its
# flags as args.
FROM python:3.11-slim AS build
WORKDIR /src
# Only the product's packages: sandbox/ and tests/ are not copied, so they are not in the image.
COPY pyproject.toml README.md ./
COPY service ./service
COPY statemachine ./statemachine
RUN pip install --no-cache-dir --no-compile --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
# Compiled where the modules live: the root filesystem is read-only at run time (k8s/base).
RUN python -m compileall -q /usr/local/lib/python3.11/site-packages \
 && useradd --uid 10001 --user-group --no-create-home alb-rollouts
USER 10001:10001
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
EXPOSE 8080 8090
ENTRYPOINT ["alb-rollouts"]
CMD ["run"]
