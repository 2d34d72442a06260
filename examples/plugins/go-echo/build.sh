#!/bin/sh
# Build the go-echo plugin offline with Debian's Go packages (GOPATH mode).
# Usage: build.sh OUTPUT [WORKDIR]
# Needs: golang-go golang-github-hashicorp-go-plugin-dev protobuf-compiler
#        golang-goprotobuf-dev golang-google-grpc-dev protoc-gen-go-grpc
set -eu
out=$1
work=${2:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
proto=$(cd "$here/../../../proto" && pwd)
mkdir -p "$work/src/pluma/plugin/v1" "$work/src/go-echo" "$work/cache"
protoc -I"$proto" \
  --go_out="$work/src" --go_opt=paths=import \
  --go-grpc_out="$work/src" --go-grpc_opt=paths=import \
  "$proto/pluma/plugin/v1/common.proto" "$proto/pluma/plugin/v1/chat.proto"
cp "$here/main.go" "$work/src/go-echo/main.go"
cd "$work/src/go-echo"
GO111MODULE=off GOPATH="$work:/usr/share/gocode" GOCACHE="$work/cache" GOFLAGS=-mod=mod \
  go build -o "$out" .
