// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Loupe",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "LoupeModel", targets: ["LoupeModel"]),
        .executable(name: "loupe", targets: ["LoupeCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries. Only LoupeRender (drawing) touches Cairo and
        // libpng, found through pkg-config; only LoupeModel touches BLAS.
        .systemLibrary(
            name: "CCairo", pkgConfig: "pangocairo",
            providers: [.apt(["libcairo2-dev", "libpango1.0-dev"])]),
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]),
        // CBLAS supplies cblas.h's types only: LoupeModel opens OpenBLAS at
        // run time (see BLAS.swift), so the library must not be linked.
        .systemLibrary(
            name: "CBLAS",
            providers: [.apt(["libopenblas-dev"])]),

        .target(
            name: "LoupeModel",
            dependencies: ["CBLAS"]),
        .executableTarget(
            name: "LoupeCLI",
            dependencies: [
                "LoupeModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(
            name: "LoupeModelTests",
            dependencies: ["LoupeModel"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "LoupeCLITests",
            dependencies: ["LoupeCLI", "LoupeModel"]),
    ],
    swiftLanguageModes: [.v6]
)
