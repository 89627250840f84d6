// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "lockstat",
    products: [
        .executable(name: "lockstat", targets: ["lockstat"]),
        .executable(name: "lockstat-run", targets: ["lockstat-run"]),
        .executable(name: "lockstat-bench", targets: ["lockstat-bench"]),
        .executable(name: "lockstat-refsampler", targets: ["lockstat-refsampler"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        // pprof's profile.proto, encoded by code generated once (scripts/generate-pprof.sh).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // Syscall-level helpers: CRC-32C, the deadline sleeper, signals and restores, spawn, zstd (libzstd-dev), gzip (zlib),
        // perf_event_open and its rings, the C++ (libstdc++) and Swift demanglers, the contention
        // module's BPF programs (libbpf-dev; the object is built by scripts/build-bpf.sh), the
        // DWARF user-stack unwinder (elfutils' libdw and libelf: libdw-dev).
        .target(name: "CLockstat", linkerSettings: [
            .linkedLibrary("zstd"), .linkedLibrary("z"), .linkedLibrary("stdc++"), .linkedLibrary("bpf"),
            .linkedLibrary("dw"), .linkedLibrary("elf"),
        ]),
        // pprof's profile.proto and the Swift generated from it (scripts/generate-pprof.sh).
        .target(name: "PprofProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")], exclude: ["profile.proto"]),
        // Series of samples in bounded memory: chunks in memory up to a budget, spilled beyond it.
        .target(name: "LockstatColumns", dependencies: ["CLockstat"]),
        // SVG primitives; knows nothing about lockstat.
        .target(name: "LockstatCharts", dependencies: ["LockstatColumns"]),
        // Config, test directory, sampler, raw log, pickle/JSON, the run pipeline, the generic
        // results and every output written over them (report, compare, page, serve, exports). Module-agnostic.
        .target(name: "LockstatCore", dependencies: [
            "CLockstat", "LockstatColumns", "LockstatCharts", "PprofProto", .product(name: "SystemPackage", package: "swift-system"),
        ]),
        // One folder per module: reader, parser, model and plots side by side.
        .target(name: "LockstatModules", dependencies: [
            "LockstatCore", "LockstatCharts",
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .target(name: "LockstatCLI", dependencies: [
            "LockstatCore", "LockstatModules",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "lockstat", dependencies: ["LockstatCLI"]),
        .executableTarget(name: "lockstat-run", dependencies: ["LockstatCLI"]),
        .executableTarget(name: "lockstat-bench", dependencies: ["LockstatCore", "LockstatModules"]),
        // The minimal C sampler the benchmark measures lockstat against.
        .executableTarget(name: "lockstat-refsampler"),
        // The unit tier: parsers on the /proc captures in Fixtures, formats, statistics, charts;
        // no root, no network, no workload (`swift test --filter LockstatUnitTests`).
        .testTarget(name: "LockstatUnitTests",
                    dependencies: ["LockstatCore", "LockstatModules", "LockstatCharts", "LockstatColumns"],
                    resources: [.copy("Fixtures")]),
        // The system tier: the built lockstat on this machine's kernel, as root, with perf, BPF, a VM, a browser.
        .testTarget(name: "LockstatTests", dependencies: ["LockstatCore", "LockstatModules", "LockstatCharts", "LockstatColumns", "LockstatCLI"]),
    ],
    swiftLanguageModes: [.v5]
)
