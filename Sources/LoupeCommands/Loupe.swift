import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LoupeCore
import LoupeModel
import Synchronization

/// The `loupe` command line, for any set of views.
///
/// The `loupe` executable passes the built-in views; a package with views of
/// its own gets every command for them from a `main.swift` such as
///
///     import LoupeCommands
///     ///     LoupeCommand.main(views: BuiltinViews.plugins + [ResidualNormView.self])
public struct LoupeCommand: ParsableCommand {
    public static let version = FigurePipeline.version

    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "loupe",
        abstract: "Look inside transformer language models.",
        discussion: """
        Runs a model in-process (GGUF, safetensors or a Hugging Face folder; the
        default is SmolLM2-135M-Instruct from the cache) and reports what happens
        inside it.

        Environment: LOUPE_CACHE is the model cache folder; LOUPE_BLAS chooses
        the matrix-product library (openblas, blis, mkl, onednn, builtin, or a
        library file's path; `loupe bench blas` measures them).

        Example:
          loupe predict --prompt "The capital of France is" --top 3
        """,
        version: version,
        subcommands: [Views.self, Render.self, Redraw.self, DashboardCommand.self, GalleryCommand.self, NewView.self, Inspect.self, Tokenize.self, Predict.self, Run.self, Grad.self, Bench.self])

    /// Runs the command line with these views and exits.
    public static func main(views: [any ViewPlugin.Type]) -> Never {
        main(registry: ViewRegistry(views))
    }

    /// Runs the command line with these views and exits.
    public static func main(registry: ViewRegistry) -> Never {
        Catalog.set(registry)
        #if canImport(Glibc)
        // Every forward pass allocates its activation cache afresh (75 MB for
        // 64 tokens of SmolLM2). By default glibc hands blocks that large
        // back to the kernel on free, so the next pass faults every page in
        // again; keeping them in the heap makes repeated passes 10-20 % faster.
        // (mallopt is declared in malloc.h, which Glibc's module leaves out.)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
            _ = mallopt(-3, 256 << 20) // M_MMAP_THRESHOLD
            _ = mallopt(-1, 1 << 30)   // M_TRIM_THRESHOLD
        }
        #endif
        // An interrupted write leaves no temporary file behind.
        TemporaryFiles.removeOnSignals()
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }
            // Messages quote text from files and options: control characters
            // and terminal escapes are shown escaped, every line cut short.
            let message = fullMessage(for: error).split(separator: "\n", omittingEmptySubsequences: false)
                .map { printable(String($0), limit: 2000) }.joined(separator: "\n")
            printError(message)
            Foundation.exit(code.rawValue)
        }
        Foundation.exit(0)
    }

    /// Without views: every command that needs one says so.
    public static func main() { main(views: []) }
}

/// The views the running command line was given. ArgumentParser makes the
/// commands itself, so they find the registry here; it is set once, before
/// any command is parsed.
enum Catalog {
    private static let current = Mutex(ViewRegistry([]))

    static func set(_ registry: ViewRegistry) { current.withLock { $0 = registry } }

    static var registry: ViewRegistry { current.withLock { $0 } }
}
