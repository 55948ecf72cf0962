// swift-tools-version: 6.0
import PackageDescription

/// Settings shared by every target: Swift 6 language mode plus the upcoming features that
/// keep `any` explicit and imports honest (STYLE.md B.1).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "swift-etcd-lock",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Etcd", targets: ["Etcd"]),
        .library(name: "EtcdLock", targets: ["EtcdLock"]),
        .library(name: "EtcdLockService", targets: ["EtcdLockService"]),
        .executable(name: "etcdlock", targets: ["EtcdLockCLI"]),
    ],
    targets: [
        // HTTP/1.1 message syntax shared by the gateway client and the service's server.
        .target(name: "HTTPCore", swiftSettings: strictSettings),
        // The system OpenSSL (`libssl-dev`), for TLS to etcd and for the service's HTTPS.
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]),
        // TLS sessions over non-blocking sockets: the client's and the server's, one wrapper.
        .target(name: "SystemTLS", dependencies: ["COpenSSL"], swiftSettings: strictSettings),
        .target(name: "Etcd", dependencies: ["HTTPCore", "SystemTLS"], swiftSettings: strictSettings),
        .target(name: "EtcdLock", dependencies: ["Etcd"], swiftSettings: strictSettings),
        // The HTTP lock API (`etcdlock serve`): stateless handles over a small HTTP/1.1 server.
        .target(name: "EtcdLockService", dependencies: ["Etcd", "EtcdLock", "HTTPCore", "SystemTLS"], swiftSettings: strictSettings),
        // posix_spawn children reaped by polling, shared by the CLI and the test support.
        .target(name: "ChildProcesses", dependencies: ["CProcessGuard"], swiftSettings: strictSettings),
        // The guard process that runs `etcdlock lock`'s command in a process group of its own
        // (C: the code between fork and exec may only make async-signal-safe calls).
        .target(name: "CProcessGuard"),
        // The fault-injection verifier's schedule, history format and checker (no I/O).
        .target(name: "LockVerification", swiftSettings: strictSettings),
        .executableTarget(
            name: "EtcdLockCLI",
            dependencies: ["Etcd", "EtcdLock", "EtcdLockService", "ChildProcesses", "LockVerification", "SystemTLS"],
            swiftSettings: strictSettings
        ),
        .target(name: "EtcdTestSupport", dependencies: ["Etcd", "ChildProcesses"], swiftSettings: strictSettings),
        .testTarget(name: "EtcdTests", dependencies: ["Etcd", "HTTPCore"], swiftSettings: strictSettings),
        .testTarget(name: "EtcdLockTests", dependencies: ["Etcd", "EtcdLock"], swiftSettings: strictSettings),
        .testTarget(name: "LockVerificationTests", dependencies: ["LockVerification"], swiftSettings: strictSettings),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Etcd", "EtcdLock", "EtcdLockService", "EtcdTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["Etcd", "EtcdTestSupport"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
