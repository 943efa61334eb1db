// swift-tools-version: 6.0
import PackageDescription

// The built-in views: one module per folder under Plugins/, each depending on
// the layers a view may use, and on no other view (`loupe new-view NAME
// --builtin` adds one here).
let builtinViews = [
    "LogitLens",
    "Attention",
    "NeuronClusters",
    "TextDeepDream",
    "LogitAttribution",
    "ActivationPatching",
    "ValueVectors",
    "TopActivations",
]

let package = Package(
    name: "Loupe",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LoupeSupport", targets: ["LoupeSupport"]),
        .library(name: "LoupeModel", targets: ["LoupeModel"]),
        .library(name: "LoupeRender", targets: ["LoupeRender"]),
        .library(name: "LoupeCore", targets: ["LoupeCore"]),
        .library(name: "LoupeViews", targets: ["LoupeViews"]),
        // Every command, for any views: a package with views of its own
        // builds its own `loupe` from it (see Plugins/README.md).
        .library(name: "LoupeCommands", targets: ["LoupeCommands"]),
        // Golden-image comparison, for the tests of views in other packages too.
        .library(name: "LoupeTestSupport", targets: ["LoupeTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
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
        // SHA-256 for the gallery's content keys, from OpenSSL's libcrypto
        // (only LoupeCore uses it).
        .systemLibrary(
            name: "CCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        // CBLAS supplies cblas.h's types only: LoupeModel opens OpenBLAS at
        // run time (see BLAS.swift), so the library must not be linked.
        .systemLibrary(
            name: "CBLAS",
            providers: [.apt(["libopenblas-dev"])]),

        // Reading inputs and writing outputs safely; shared by every layer.
        .target(name: "LoupeSupport"),
        .target(
            name: "LoupeModel",
            dependencies: ["CBLAS", "LoupeSupport"]),
        // PNG encoding in C: libpng reports errors by longjmp.
        .target(name: "CPNGWriter", dependencies: ["CPNG"]),
        .target(
            name: "LoupeRender",
            dependencies: ["CCairo", "CPNG", "CPNGWriter", "LoupeSupport"]),
        .target(
            name: "LoupeCore",
            dependencies: [
                "LoupeSupport", "LoupeModel", "LoupeRender",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Mustache", package: "swift-mustache"),
                "CCrypto",
            ],
            // Page templates and built-in prompt sets, copied beside the
            // executable (see LoupeResources).
            resources: [.copy("Resources")]),

        // The one list of built-in views, as a module.
        .target(name: "LoupeViews", dependencies: ["LoupeCore"] + builtinViews.map { .target(name: $0) }),

        .target(
            name: "LoupeCommands",
            dependencies: [
                "LoupeModel", "LoupeCore", "LoupeRender",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // The command line with the built-in views. No product is declared
        // for it: SwiftPM makes one (`.build/release/loupe`) while Loupe is
        // the package being built, and none while Loupe is a dependency, so
        // a package with views of its own can call its executable `loupe`.
        .executableTarget(name: "loupe", dependencies: ["LoupeCommands", "LoupeViews"]),

        // The readers of untrusted input as functions of bytes: replayed by
        // the tests, fuzzed by `make fuzz` (see `fuzzDriver` below).
        .target(
            name: "LoupeFuzzing",
            dependencies: ["LoupeModel", "LoupeCore", "LoupeRender", "LoupeViews"]),

        .testTarget(
            name: "LoupeModelTests",
            dependencies: ["LoupeModel"],
            exclude: ["Fixtures"]),
        // Golden-image comparison shared by the tests that draw.
        .target(name: "LoupeTestSupport", dependencies: ["CPNG", "LoupeSupport"]),

        .testTarget(
            name: "LoupeRenderTests",
            dependencies: ["LoupeRender", "LoupeTestSupport", "CCairo"],
            exclude: ["__Snapshots__"]),
        .testTarget(
            name: "LoupeCoreTests",
            dependencies: ["LoupeCore", "LoupeRender"]),
        .testTarget(
            name: "LoupeViewsTests",
            dependencies: ["LoupeViews", "LoupeCore", "LoupeModel", "LoupeRender", "LoupeTestSupport"] + builtinViews.map { .target(name: $0) },
            exclude: ["__Snapshots__"]),
        .testTarget(
            name: "LoupeCLITests",
            dependencies: ["loupe", "LoupeModel", "LoupeViews", "LoupeFuzzing"]),
    ],
    swiftLanguageModes: [.v6]
)

package.targets += builtinViews.map {
    .target(name: $0, dependencies: ["LoupeCore", "LoupeModel", "LoupeRender", "LoupeSupport"], path: "Plugins/\($0)")
}

// The libFuzzer driver exists only in the instrumented build (`make fuzz`
// sets LOUPE_FUZZ=1 and builds with -sanitize=fuzzer): it calls libFuzzer's
// driver, so an ordinary build could not link it.
if Context.environment["LOUPE_FUZZ"] == "1" {
    package.targets.append(.executableTarget(name: "loupe-fuzz", dependencies: ["LoupeFuzzing"], path: "Fuzz",
                                             exclude: ["corpus", "README.md", "make_corpus.py"], sources: ["main.swift"]))
}
