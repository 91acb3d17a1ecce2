# evalform as a container image: a static musl binary on an empty base (no shell, no package manager).
#
#   docker build -t evalform .
#   docker run --rm -v "$PWD:/work" -e CEKURA_API_KEY -e TELA_API_KEY evalform plan --detailed-exitcode
#
# The release workflow pushes it as ghcr.io/OWNER/evalform:VERSION (docs/ci.md).

# Build stage: Alpine's Rust links against musl, so the binary is static.
FROM rust:1-alpine AS build
RUN apk add --no-cache musl-dev make
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p evalform-cli --bin evalform \
    && cp target/release/evalform /evalform \
    && /evalform --version

# Final stage: the binary alone (it carries its TLS root certificates), run as an unprivileged user. With no shell
# in the image, a CI system that runs scripts in it (GitLab's `script:`) uses the released binary instead
# (templates/evalform.gitlab-ci.yml).
FROM scratch
COPY --from=build /evalform /usr/local/bin/evalform
ENV PATH=/usr/local/bin
USER 65532:65532
WORKDIR /work
ENTRYPOINT ["evalform"]
