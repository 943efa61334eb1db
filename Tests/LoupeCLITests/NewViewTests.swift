import Foundation
import LoupeViews
import Testing

/// Runs a command (found on the PATH) in a folder.
private func shell(_ arguments: [String], in folder: String, environment: [String: String] = [:]) throws -> Loupe.Output {
    try Loupe.run(arguments, environment: environment, in: folder, executable: "/usr/bin/env")
}

/// `loupe new-view`: a package of the user's own, built against this
/// checkout, whose `loupe` has the new view beside the built-ins in every
/// command; and a built-in view added to a checkout without editing a file.
@Suite struct NewViewTests {
    static let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// The whole walk a user takes. The build compiles Loupe again in the
    /// new package (its time is in the README). It does not depend on the
    /// BLAS kernel, so the suite's second kernel pass skips it.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["LOUPE_KERNEL_PASS"] != "second"))
    func aPackageOfYourOwn() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let made = try Loupe.run(["new-view", "residual-norm", "--in", folder, "--loupe", Self.checkout])
        #expect(made.status == 0, "\(made.stderr)")
        let package = folder + "/residual-norm"
        for file in ["Package.swift", "README.md", "Sources/ResidualNorm/ResidualNormView.swift", "Sources/ResidualNormLoupe/main.swift",
                     "Tests/ResidualNormTests/ResidualNormTests.swift", "Examples/dashboard.yml", "Examples/gallery.yml"] {
            #expect(FileManager.default.fileExists(atPath: package + "/" + file), "\(file) is missing")
        }
        let main = try String(contentsOfFile: package + "/Sources/ResidualNormLoupe/main.swift", encoding: .utf8)
        #expect(main.split(separator: "\n").filter { !$0.hasPrefix("//") && !$0.isEmpty }.count <= 4)
        // A second time, nothing is touched.
        let again = try Loupe.run(["new-view", "residual-norm", "--in", folder, "--loupe", Self.checkout])
        #expect(again.status != 0 && again.stderr.contains("already exists; nothing was written"), "\(again.stderr)")

        let start = Date()
        let build = try shell(["swift", "build", "-c", "release"], in: package)
        try #require(build.status == 0, "swift build: \(build.stdout.suffix(3000)) \(build.stderr.suffix(3000))")
        print("new-view package: swift build -c release took \(Int(Date().timeIntervalSince(start))) s")
        let loupe = package + "/.build/release/loupe"

        let views = try Loupe.run(["views", "--json"], executable: loupe)
        #expect(views.status == 0)
        let listed = try #require(JSONSerialization.jsonObject(with: Data(views.stdout.utf8)) as? [[String: Any]])
        #expect(listed.compactMap { $0["id"] as? String } == BuiltinViews.registry.ids + ["residual-norm"])

        let render = try Loupe.run(["render", "residual-norm", "--model", Paths.tinyGGUF, "--prompt", "The cat sat on the mat.",
                                    "-o", "norms.png"], in: folder, executable: loupe)
        #expect(render.status == 0, "\(render.stderr)")
        let record = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/norms.json"))) as? [String: Any])
        let norms = try #require((record["data"] as? [String: Any])?["norms"] as? [[Double]])
        #expect(norms.count == 2 && norms.allSatisfy { $0.allSatisfy { $0 > 0 && $0.isFinite } })
        #expect((record["options"] as? [String: Any])?["log"] as? Bool == true)
        let redraw = try Loupe.run(["redraw", "norms.json", "--theme", "paper", "-o", "norms.pdf"], in: folder, executable: loupe)
        #expect(redraw.status == 0 && FileManager.default.fileExists(atPath: folder + "/norms.pdf"), "\(redraw.stderr)")
        let bad = try Loupe.run(["render", "residual-norm", "--model", Paths.tinyGGUF, "--prompt", "a", "--set", "log=maybe",
                                 "-o", "bad.png"], in: folder, executable: loupe)
        #expect(bad.status != 0 && bad.stderr.contains("option 'log': 'maybe' is not true or false"), "\(bad.stderr)")

        let dashboard = try Loupe.run(["dashboard", "Examples/dashboard.yml", "--model", Paths.tinyGGUF, "--format", "html",
                                       "-o", folder + "/page.html"], in: package, executable: loupe)
        #expect(dashboard.status == 0, "\(dashboard.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder + "/page_files/a-residual-norm.json"))
        let gallery = try Loupe.run(["gallery", "Examples/gallery.yml", "--out", folder + "/gallery"], in: package, executable: loupe)
        #expect(gallery.status == 0, "\(gallery.stderr)")
        let index = try String(contentsOfFile: folder + "/gallery/index.html", encoding: .utf8)
        #expect(index.contains("residual-norm") && index.contains("linear-norms"))

        // The package's own tests: record the golden, then compare with it.
        let record1 = try shell(["swift", "test", "-c", "release", "--disable-testable-imports"], in: package,
                                environment: ["LOUPE_RECORD_GOLDENS": "residual-norm-drawing"])
        #expect(record1.status == 0, "\(record1.stdout.suffix(3000)) \(record1.stderr.suffix(2000))")
        #expect(FileManager.default.fileExists(atPath: package + "/Tests/ResidualNormTests/__Snapshots__/residual-norm-drawing.png"))
        let compare = try shell(["swift", "test", "-c", "release", "--disable-testable-imports"], in: package,
                                environment: ["LOUPE_RECORD_GOLDENS": ""])
        #expect(compare.status == 0, "\(compare.stdout.suffix(3000)) \(compare.stderr.suffix(2000))")
        #expect(compare.stdout.contains("3 tests") || compare.stderr.contains("3 tests"), "\(compare.stdout.suffix(1000))")
    }

    /// `--builtin` adds the plugin folder, its target and its registration,
    /// here in a copy of the checkout's three files.
    @Test func aBuiltinView() throws {
        let fake = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: fake) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: fake + "/Sources/LoupeViews", withIntermediateDirectories: true)
        try fm.copyItem(atPath: Self.checkout + "/Package.swift", toPath: fake + "/Package.swift")
        try fm.copyItem(atPath: Self.checkout + "/Sources/LoupeViews/BuiltinViews.swift", toPath: fake + "/Sources/LoupeViews/BuiltinViews.swift")
        for plugin in try fm.contentsOfDirectory(atPath: Self.checkout + "/Plugins") {
            try fm.createDirectory(atPath: fake + "/Plugins/" + plugin, withIntermediateDirectories: true)
        }
        let r = try Loupe.run(["new-view", "residual-norm", "--builtin", "--loupe", fake])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(fm.fileExists(atPath: fake + "/Plugins/ResidualNorm/ResidualNormView.swift"))
        // The new target comes last in the list, after the checkout's own.
        func builtinList(_ manifest: String) throws -> Substring {
            try #require(manifest.range(of: "let builtinViews = [").map { manifest[$0.upperBound...].prefix { $0 != "]" } })
        }
        let before = try builtinList(try String(contentsOfFile: Self.checkout + "/Package.swift", encoding: .utf8))
        let manifest = try String(contentsOfFile: fake + "/Package.swift", encoding: .utf8)
        let list = try builtinList(manifest)
        #expect(list == before + "    \"ResidualNorm\",\n", "\(list)")
        let registry = try String(contentsOfFile: fake + "/Sources/LoupeViews/BuiltinViews.swift", encoding: .utf8)
        #expect(registry.contains("import ResidualNorm\n") && registry.contains("        ResidualNormView.self,\n    ]"), "\(registry)")
        // The manifest still evaluates, with the new target.
        let dump = try shell(["swift", "package", "dump-package"], in: fake)
        #expect(dump.status == 0, "\(dump.stderr)")
        #expect(dump.stdout.contains("\"Plugins/ResidualNorm\""), "\(dump.stdout.prefix(500))")
        // A module that exists already, or a name that is not an id, is refused and nothing changes.
        let twice = try Loupe.run(["new-view", "residual-norm", "--builtin", "--loupe", fake])
        #expect(twice.status != 0 && twice.stderr.contains("already has a module named ResidualNorm"), "\(twice.stderr)")
        let badName = try Loupe.run(["new-view", "Residual_Norm", "--builtin", "--loupe", fake])
        #expect(badName.status != 0 && badName.stderr.contains("is not a view id"), "\(badName.stderr)")
        #expect(try String(contentsOfFile: fake + "/Package.swift", encoding: .utf8) == manifest)
        let notLoupe = try Loupe.run(["new-view", "other-view", "--builtin", "--loupe", fake + "/Plugins"])
        #expect(notLoupe.status != 0 && notLoupe.stderr.contains("is not a Loupe checkout"), "\(notLoupe.stderr)")
    }
}
