# The MCP server (the `mcp_server` example, every tool family, metrics) as a small,
# non-root image. Build: docker build -t toolcall-mcp .
# Run:   docker run -p 8765:8765 -p 9090:9090 -e MCP_BEARER_TOKEN=… toolcall-mcp

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --example mcp_server \
        --features mcp,metrics,kubernetes,postgres,postgres-rustls \
    && install -D target/release/examples/mcp_server /out/mcp_server

# glibc and CA certificates, no shell, no package manager; uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/mcp_server /usr/local/bin/mcp_server
USER 65532:65532
EXPOSE 8765 9090
ENV MCP_STATELESS=true \
    MCP_METRICS_ADDR=0.0.0.0:9090 \
    TOOLCALL_LOG_FORMAT=json
ENTRYPOINT ["/usr/local/bin/mcp_server"]
CMD ["http", "0.0.0.0:8765"]
