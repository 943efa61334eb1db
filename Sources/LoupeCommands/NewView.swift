import ArgumentParser
import Foundation
import LoupeCore

struct NewView: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new-view",
        abstract: "Start a view of your own: a package, or a built-in view in a Loupe checkout.",
        discussion: """
        With --in, writes the package DIR/NAME/: the view (a residual-norm heatmap
        to change into yours, with one option), a `loupe` that has it beside the
        built-in views, a test with a golden image, example specs and a README.
        It depends on Loupe by path (--loupe, default: the checkout this loupe
        was built from). Then, in DIR/NAME: swift build -c release.

        With --builtin, adds the view to the Loupe checkout instead: Plugins/MODULE/,
        its name in Package.swift's builtinViews, and its registration in
        Sources/LoupeViews/BuiltinViews.swift.

        Examples:
          loupe new-view residual-norm --in ~/views
          loupe new-view residual-norm --builtin
        """)

    @Argument(help: ArgumentHelp("The view's id: lowercase words joined by hyphens.", valueName: "name"))
    var name: String

    @Option(name: .customLong("in"), help: ArgumentHelp("The folder to write the package NAME/ in.", valueName: "dir"))
    var folder: String?

    @Option(help: ArgumentHelp("The Loupe checkout to use (default: the one this loupe was built from).", valueName: "path"))
    var loupe: String?

    @Flag(help: "Add the view to the Loupe checkout instead of writing a package.")
    var builtin = false

    /// The checkout whose sources this executable was built from.
    static let builtFrom = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    func validate() throws {
        if builtin == (folder != nil) { throw ValidationError("give either --in DIR (a package of your own) or --builtin") }
    }

    func run() throws {
        let scaffold = try Scaffold(id: name)
        if Catalog.registry.ids.contains(name) {
            throw CoreError.newView("this loupe already has a view '\(name)'; choose another name")
        }
        let checkout = loupe ?? Self.builtFrom
        if builtin {
            let files = try scaffold.addBuiltin(to: checkout)
            print("""
            wrote \(files.joined(separator: ", "))
            Next: swift build -c release; then record the example's golden image and look at it:
              LOUPE_RECORD_GOLDENS=example-\(name) swift test -c release -Xswiftc -enable-testing --filter RegistryTests
            """)
        } else if let folder {
            let package = try scaffold.writePackage(in: folder, loupe: checkout)
            print("""
            wrote \(package)/ (the view \(scaffold.type), depending on Loupe at \(checkout))
            Next:
              cd \(package)
              swift build -c release && .build/release/loupe views
            """)
        }
    }
}
