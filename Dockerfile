# syntax=docker/dockerfile:1

# Build: a static binary (no cgo), so the runtime image needs no libc.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/portal ./cmd/portal \
 && mkdir -p /out/data

# Run: distroless, as the unprivileged "nonroot" user (uid 65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/portal /usr/local/bin/portal
# The data directory belongs to the runtime user, so a named volume mounted
# there starts writable.
COPY --from=build --chown=65532:65532 /out/data /data
ENV PORTAL_HTTP_ADDR=0.0.0.0:8080 \
    PORTAL_DATA_DIR=/data \
    PORTAL_LOG_FORMAT=json
USER 65532:65532
EXPOSE 8080
VOLUME ["/data"]
# distroless has no curl: the binary checks its own /readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/portal", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/portal"]
CMD ["serve"]
