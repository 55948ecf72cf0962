// swift-tools-version: 6.0
import Foundation
import PackageDescription

// A new user's package: Swift 6 language mode, this repository as a dependency by path. Its
// sources are generated from README.md by scripts/check-readme (plus the hand-written
// IsolationChecks.swift); building it proves that the README's code compiles as written, as
// top-level code, in a @MainActor function and in an actor's method.

/// The dependency's package identity is its directory's name, whatever the clone is called.
let repository = URL(fileURLWithPath: Context.packageDirectory).appendingPathComponent("../../..").standardizedFileURL
let identity = repository.lastPathComponent.lowercased()

let package = Package(
    name: "ReadmeConsumer",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "../../..")],
    targets: [
        .executableTarget(
            name: "ReadmeConsumer",
            dependencies: [
                .product(name: "Etcd", package: identity),
                .product(name: "EtcdLock", package: identity),
            ],
            // A warning in README code is a README bug too.
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])]
        )
    ],
    swiftLanguageModes: [.v6]
)
