// swift-tools-version: 6.0
import PackageDescription

/// Release builds specialise generics across modules (the runtime's operators are generic over
/// key and aggregation types and are called from other modules on the hot path) and leave out the
/// dynamic exclusivity checks (the compile-time ones stay; on the data path the runtime checks
/// cost ~7 % of CPU in `replay --sinks`, measured with perf).
let crossModule: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization", "-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "WakalaStream",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "wakala", targets: ["wakala"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
    ],
    targets: [
        // System libraries (Debian: librdkafka-dev, libpq-dev, libzstd-dev).
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka",
                       providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),

        // Small C helpers for what Swift's Glibc module does not expose.
        // jemalloc as the allocator of every product (Debian's libjemalloc-dev): 10–13 % less CPU
        // than glibc's malloc for the pipeline, measured (BENCHMARKS.md, issue 15).
        .target(name: "CSupport", linkerSettings: [.linkedLibrary("jemalloc")]),

        // Pure domain model: no I/O.
        .target(name: "Domain", dependencies: ["CSupport"], swiftSettings: crossModule),
        // Sources and codecs: JSON decoding + validation, NDJSON/zstd files, Kafka, generator.
        // SIGTERM/SIGINT for every retry loop, and the settings error that names its flag.
        .target(name: "Lifecycle"),
        // libpq: one connection (parameterized queries, COPY, LISTEN) and a private server for tests and the demo.
        .target(name: "Postgres", dependencies: ["CLibPQ", "CSupport", "Lifecycle"]),
        .target(name: "Ingest",
                dependencies: ["Domain", "Lifecycle", "CRdKafka", "CZstd",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: crossModule),
        // The dataflow: records, event time, watermarks, windows, keyed state, snapshots.
        .target(name: "Operators",
                dependencies: ["Domain", "Ingest", "CSupport",
                               .product(name: "HeapModule", package: "swift-collections"),
                               .product(name: "DequeModule", package: "swift-collections"),
                               .product(name: "Yams", package: "Yams")],
                swiftSettings: crossModule),
        // Sinks: Postgres (libpq) and the local Postgres cluster helper.
        .target(name: "Sinks",
                dependencies: ["Domain", "Ingest", "Operators", "Lifecycle", "Postgres", "CLibPQ", "CSupport",
                               .product(name: "Crypto", package: "swift-crypto"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "Metrics", package: "swift-metrics")],
                swiftSettings: crossModule),
        // The drivers: a pipeline fed from Kafka (tasks per partition, rebalances, internal topics).
        .target(name: "Engine",
                dependencies: ["Domain", "Ingest", "Operators", "Sinks", "Lifecycle", "Postgres",
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "Metrics", package: "swift-metrics")],
                swiftSettings: crossModule),
        // The read side: dashboard answers from the committed rollups (in memory, refreshed on each
        // checkpoint's NOTIFY), orders/deliveries/usage lookups.
        .target(name: "Query",
                dependencies: ["Domain", "Postgres", "CLibPQ"]),
        // `wakala serve`: the HTTP API and the web dashboard (Hummingbird 2, jwt-kit, Prometheus).
        .target(name: "Serve",
                dependencies: ["Domain", "Query", "Postgres",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "HummingbirdCore", package: "hummingbird"),
                               .product(name: "NIOCore", package: "swift-nio"),
                               .product(name: "NIOHTTP1", package: "swift-nio"),
                               .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                               .product(name: "Crypto", package: "swift-crypto"),
                               .product(name: "HTTPTypes", package: "swift-http-types"),
                               .product(name: "JWTKit", package: "jwt-kit"),
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                               .product(name: "Logging", package: "swift-log")]),
        // `wakala gateway`: WhatsApp and Paystack webhooks, verified, into Kafka (acknowledged only
        // once Kafka acknowledged).
        .target(name: "Gateway",
                dependencies: ["Domain", "Ingest", "Query", "Serve",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "HTTPTypes", package: "swift-http-types"),
                               .product(name: "Crypto", package: "swift-crypto"),
                               .product(name: "Metrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                               .product(name: "Yams", package: "Yams")]),
        .executableTarget(name: "wakala",
                          dependencies: ["Domain", "Ingest", "Operators", "Sinks", "Engine", "Query", "Serve", "Gateway", "Lifecycle", "Postgres",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Crypto", package: "swift-crypto"),
                                         .product(name: "Hummingbird", package: "hummingbird"),
                                         .product(name: "Metrics", package: "swift-metrics"),
                                         .product(name: "Prometheus", package: "swift-prometheus"),
                                         .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                                         .product(name: "Logging", package: "swift-log")]),

        .testTarget(name: "DomainTests", dependencies: ["Domain"]),
        .testTarget(name: "IngestTests", dependencies: ["Domain", "Ingest"]),
        .testTarget(name: "OperatorsTests", dependencies: ["Domain", "Ingest", "Operators"]),
        // Helpers shared by the test targets: a Postgres per test process, running child processes.
        .target(name: "TestSupport", dependencies: ["Sinks", "Postgres"], path: "Tests/TestSupport"),
        .testTarget(name: "SinksTests", dependencies: ["Sinks", "Postgres", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["Domain", "Ingest", "Sinks", "Engine", "Query", "Lifecycle", "Postgres", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
