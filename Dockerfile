# The CrossBridge server image: ghcr.io/crossbridge/crossbridge-server, the
# Helm chart's default image (charts/crossbridge/values.yaml).
#
#   docker build -t ghcr.io/crossbridge/crossbridge-server:0.1.0 .
#   docker run --rm -p 50051:50051 -p 9464:9464 \
#     ghcr.io/crossbridge/crossbridge-server:0.1.0
#
# Two stages:
#   build    Debian 12 with the build packages of scripts/install-deps.sh
#            (--build-only); a Release build of the server and the CLI only,
#            installed (stripped) with `cmake --install --component runtime`.
#   runtime  debian:12-slim with exactly the shared libraries the binaries
#            load (docker/runtime-packages.txt, checked against `ldd` by
#            tests/packaging/check_runtime_libs.sh), running as the
#            unprivileged user 65532 with the configuration at
#            /etc/crossbridge/crossbridge.yml (docker/crossbridge.yml: listen
#            on 0.0.0.0, JSON logs; mount your own over it).
# Ports: 50051 gRPC (CrossBridge services, grpc.health.v1, reflection), 9464
# Prometheus metrics.

FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release \
      -DCROSSBRIDGE_BUILD_TESTS=OFF -DCROSSBRIDGE_BUILD_BENCH=OFF \
      -DCROSSBRIDGE_BUILD_EXAMPLES=OFF \
 && cmake --build /build -j"$(nproc)" --target crossbridge-server crossbridge-cli \
 && cmake --install /build --prefix /opt/crossbridge --component runtime --strip

FROM debian:12-slim AS runtime
COPY docker/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && grep -v '^[[:space:]]*\(#\|$\)' /tmp/runtime-packages.txt \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --gid 65532 crossbridge \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin crossbridge
COPY --from=build /opt/crossbridge/bin/ /usr/local/bin/
COPY docker/crossbridge.yml /etc/crossbridge/crossbridge.yml
USER 65532:65532
EXPOSE 50051 9464
ENTRYPOINT ["crossbridge-server"]
CMD ["--config", "/etc/crossbridge/crossbridge.yml"]
