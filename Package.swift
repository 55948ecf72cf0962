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
        .executable(name: "etcdlock", targets: ["EtcdLockCLI"]),
    ],
    targets: [
        .target(name: "Etcd", swiftSettings: strictSettings),
        .target(name: "EtcdLock", dependencies: ["Etcd"], swiftSettings: strictSettings),
        .executableTarget(
            name: "EtcdLockCLI",
            dependencies: ["Etcd", "EtcdLock"],
            swiftSettings: strictSettings
        ),
        .target(name: "EtcdTestSupport", dependencies: ["Etcd"], swiftSettings: strictSettings),
        .testTarget(name: "EtcdTests", dependencies: ["Etcd"], swiftSettings: strictSettings),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Etcd", "EtcdLock", "EtcdTestSupport"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
