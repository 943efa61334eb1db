import Foundation
import LoupeSupport
import Mustache

/// What `loupe new-view` writes: a package with a view of its own, or a
/// built-in view added to a Loupe checkout. The files come from the
/// templates in `Resources/Scaffold`.
public struct Scaffold: Sendable {
    /// The view's id: lowercase words joined by hyphens (`residual-norm`).
    public let id: String
    /// Its module (`ResidualNorm`) and type (`ResidualNormView`).
    public let module: String
    public var type: String { module + "View" }
    /// Its title (`Residual norm`).
    public let title: String

    public init(id: String) throws {
        guard id.range(of: #"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"#, options: .regularExpression) != nil, id.count <= 64 else {
            throw CoreError.newView("'\(printable(id, limit: 80))' is not a view id: use lowercase letters and digits, words joined by hyphens (residual-norm)")
        }
        self.id = id
        let words = id.split(separator: "-").map(String.init)
        module = words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        title = words.joined(separator: " ").prefix(1).uppercased() + words.joined(separator: " ").dropFirst()
    }

    /// A Loupe checkout: a folder whose Package.swift declares the package Loupe.
    public static func checkCheckout(_ path: String) throws {
        let manifest = path + "/Package.swift"
        guard let text = try? InputFile.text(manifest), text.contains("name: \"Loupe\"") else {
            throw CoreError.newView("'\(printable(path, limit: 200))' is not a Loupe checkout (its Package.swift does not declare the package Loupe); give one with --loupe")
        }
    }

    /// The folders of the checkout's modules, which a new module must not repeat.
    static func modules(in checkout: String) -> Set<String> {
        var names = Set<String>()
        for folder in ["Sources", "Plugins", "Tests"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: checkout + "/" + folder)) ?? [] { names.insert(name) }
        }
        return names
    }

    private func render(_ template: String, _ extra: [String: String] = [:]) throws -> String {
        let path = try LoupeResources.folder() + "/Scaffold/\(template).mustache"
        let text: String
        do throws(FileProblem) { text = try InputFile.text(path) } catch {
            throw CoreError.badResource(what: "the new-view templates", detail: "'\(path)': \(error.reason)")
        }
        var context: [String: String] = ["id": id, "module": module, "type": type, "title": title]
        for (k, v) in extra { context[k] = v }
        do { return try MustacheTemplate(string: text).render(context) } catch {
            throw CoreError.badResource(what: "the new-view templates", detail: "'\(path)' is not a valid Mustache template: \(error)")
        }
    }

    /// Writes the package `folder/ID/`, depending on the checkout at
    /// `loupe` by path. Everything is written to a temporary folder first and
    /// renamed at the end, so a failure leaves nothing behind; an existing
    /// folder is never touched. Returns the package's folder.
    public func writePackage(in folder: String, loupe: String) throws -> String {
        try Self.checkCheckout(loupe)
        if Self.modules(in: loupe).contains(module) || Self.modules(in: loupe).contains(module + "Loupe") {
            throw CoreError.newView("Loupe already has a module named \(module); choose another name")
        }
        guard PathKind(folder) == .directory else {
            throw CoreError.newView("--in '\(printable(folder, limit: 200))' is not a folder")
        }
        let target = folder + "/" + id
        guard PathKind(target) == .missing else {
            throw CoreError.newView("'\(printable(target, limit: 200))' already exists; nothing was written")
        }
        let loupePath = URL(fileURLWithPath: loupe).standardizedFileURL.path
        let extra = ["loupePath": loupePath, "loupePackage": URL(fileURLWithPath: loupePath).lastPathComponent]
        let files: [(String, String)] = [
            ("Package.swift", try render("Package.swift", extra)),
            ("Sources/\(module)/\(type).swift", try render("View.swift")),
            ("Sources/\(module)Loupe/main.swift", try render("main.swift")),
            ("Tests/\(module)Tests/\(module)Tests.swift", try render("Tests.swift")),
            ("Tests/\(module)Tests/__Snapshots__/README.md",
             "Golden images of the drawing, recorded with LOUPE_RECORD_GOLDENS=\(id)-drawing (see ../../../README.md).\n"),
            ("Examples/dashboard.yml", try render("dashboard.yml")),
            ("Examples/gallery.yml", try render("gallery.yml")),
            ("README.md", try render("README.md", extra)),
            (".gitignore", ".build/\nPackage.resolved\n"),
        ]
        let staging = folder + "/.\(id).new-\(getpid())"
        do {
            for (name, text) in files {
                let path = staging + "/" + name
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            }
            try FileManager.default.moveItem(atPath: staging, toPath: target)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            if let e = error as? CoreError { throw e }
            throw CoreError.newView("cannot write '\(printable(target, limit: 200))': \(error.localizedDescription)")
        }
        return target
    }

    /// Adds the view to the checkout: `Plugins/MODULE/`, its name in
    /// Package.swift's list of built-in views, and its registration in
    /// `BuiltinViews.swift`. Checks everything before it writes anything;
    /// the three files are one transaction. Returns the files written.
    public func addBuiltin(to checkout: String) throws -> [String] {
        try Self.checkCheckout(checkout)
        if Self.modules(in: checkout).contains(module) {
            throw CoreError.newView("the checkout already has a module named \(module); choose another name")
        }
        let manifestPath = checkout + "/Package.swift"
        let registryPath = checkout + "/Sources/LoupeViews/BuiltinViews.swift"
        let viewPath = checkout + "/Plugins/\(module)/\(type).swift"
        func read(_ path: String) throws -> String {
            do throws(FileProblem) { return try InputFile.text(path) } catch {
                throw CoreError.newView("'\(printable(path, limit: 200))': \(error.reason)")
            }
        }
        func unexpected(_ path: String, _ what: String) -> CoreError {
            .newView("'\(printable(path, limit: 200))' does not have \(what) where new-view expects it; add the view by hand (see Plugins/README.md)")
        }
        // Package.swift: `let builtinViews = [ ... ]`, one name per line.
        var manifest = try read(manifestPath)
        guard let list = manifest.range(of: "let builtinViews = ["),
              let end = manifest.range(of: "\n]", range: list.upperBound ..< manifest.endIndex) else {
            throw unexpected(manifestPath, "the list 'let builtinViews = [' ... ']'")
        }
        manifest.insert(contentsOf: "\n    \"\(module)\",", at: end.lowerBound)
        // BuiltinViews.swift: an import, and the type in `plugins`.
        var registry = try read(registryPath)
        guard let imports = registry.range(of: "import LoupeCore\n") else { throw unexpected(registryPath, "'import LoupeCore'") }
        registry.insert(contentsOf: "import \(module)\n", at: imports.lowerBound)
        guard let plugins = registry.range(of: "public static let plugins: [any ViewPlugin.Type] = ["),
              let close = registry.range(of: "\n    ]", range: plugins.upperBound ..< registry.endIndex) else {
            throw unexpected(registryPath, "the list 'plugins'")
        }
        registry.insert(contentsOf: "\n        \(type).self,", at: close.lowerBound)
        let view = try render("View.swift")
        let pluginFolder = (viewPath as NSString).deletingLastPathComponent
        do {
            let transaction = FileTransaction()
            try FileManager.default.createDirectory(atPath: pluginFolder, withIntermediateDirectories: true)
            try transaction.stage(Data(view.utf8), to: viewPath)
            try transaction.stage(Data(manifest.utf8), to: manifestPath)
            try transaction.stage(Data(registry.utf8), to: registryPath)
            try transaction.commit()
        } catch {
            try? FileManager.default.removeItem(atPath: pluginFolder)
            throw error
        }
        return [viewPath, manifestPath, registryPath]
    }
}
