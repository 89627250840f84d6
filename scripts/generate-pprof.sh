#!/usr/bin/env bash
# Regenerates Sources/PprofProto/profile.pb.swift from profile.proto (google/pprof's
# proto/profile.proto, copied with its licence header). Needs protoc (Debian's
# protobuf-compiler); builds swift-protobuf's protoc-gen-swift at the version Package.swift
# names, once, outside the tree (the plugin takes minutes to build, so the output is committed).
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.39.0
plugin_dir=${PROTOC_GEN_SWIFT_DIR:-/var/tmp/lockstat-protoc-gen-swift-$version}
if [ ! -x "$plugin_dir/.build/release/protoc-gen-swift" ]; then
    rm -rf "$plugin_dir"
    git clone -q --branch "$version" https://github.com/apple/swift-protobuf "$plugin_dir"
    (cd "$plugin_dir" && swift build -c release --product protoc-gen-swift)
fi
protoc --plugin="protoc-gen-swift=$plugin_dir/.build/release/protoc-gen-swift" \
    --swift_opt=Visibility=Public --swift_out=Sources/PprofProto -I Sources/PprofProto Sources/PprofProto/profile.proto
echo "wrote Sources/PprofProto/profile.pb.swift"
