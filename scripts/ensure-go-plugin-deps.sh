#!/usr/bin/env bash
# The Go plugin test builds examples/plugins/go-echo with HashiCorp go-plugin
# from Debian's packages, offline (GOPATH mode over /usr/share/gocode).
set -euo pipefail
PACKAGES="golang-go golang-github-hashicorp-go-plugin-dev protobuf-compiler protoc-gen-go-1-3 golang-goprotobuf-dev golang-google-grpc-dev protoc-gen-go-grpc"
if command -v go >/dev/null 2>&1 && command -v protoc >/dev/null 2>&1 \
  && command -v protoc-gen-go-grpc >/dev/null 2>&1 \
  && [ -d /usr/share/gocode/src/github.com/hashicorp/go-plugin ] \
  && [ -d /usr/share/gocode/src/github.com/golang/protobuf ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's Go and go-plugin packages for the Go plugin test..."
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null
  exit 0
fi
echo "The Go plugin test needs Go, protoc and go-plugin from Debian." >&2
echo "Install them with: sudo apt-get install $PACKAGES" >&2
exit 1
