# The alb-rollouts controller image. `docker build -t alb-rollouts .`; run with `run` and the usual flags.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY statemachine ./statemachine
COPY sandbox ./sandbox
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN useradd --uid 10001 --no-create-home alb-rollouts
USER 10001
EXPOSE 8080 8090
ENTRYPOINT ["alb-rollouts"]
CMD ["run"]
