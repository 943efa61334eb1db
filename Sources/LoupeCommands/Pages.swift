import ArgumentParser
import Foundation
import LoupeCore
import LoupeModel
import LoupeRender
import Synchronization

struct DashboardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Render a dashboard: several views of one prompt on one page.",
        discussion: """
        The spec (YAML or JSON) names the prompt, the panels and their layout;
        see Gallery/dashboards/. PNG, SVG and PDF give one page with panel
        labels (a), (b), …; html gives a page with every panel, links to its
        files and data, and tooltips, with the files in a folder beside it.

        Examples:
          loupe dashboard Gallery/dashboards/eiffel.yml -o eiffel.pdf --latex
          loupe dashboard Gallery/dashboards/eiffel.yml --format html -o eiffel.html
          loupe dashboard Gallery/dashboards/overview.yml --prompt "2 + 2 =" -o sum.png
        """)

    @Argument(help: ArgumentHelp("The dashboard spec (YAML or JSON).", valueName: "spec"))
    var spec: String
    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The page (default: the spec's name, in the working folder).", valueName: "path"))
    var output: String?
    @Option(help: ArgumentHelp("png, svg, pdf or html (default: from the output's extension, else pdf).", valueName: "format"))
    var format: String?
    @Option(name: .long, help: ArgumentHelp("The prompt, instead of the spec's.", valueName: "text"))
    var prompt: String?
    @Option(name: .long, help: ArgumentHelp("The model, instead of the spec's (a GGUF file, .safetensors or a folder).", valueName: "path"))
    var model: String?
    @Option(help: ArgumentHelp("light, dark or paper, instead of the spec's.", valueName: "name"))
    var theme: String?
    @Option(help: "Resolution of PNG output, in pixels per inch, instead of the spec's.")
    var dpi: Double?
    @Flag(help: "Beside each PDF written, write a LaTeX \\includegraphics snippet (.tex) with the figure's size.")
    var latex = false

    static let formats = ["png", "svg", "pdf", "html"]

    func validate() throws {
        if let theme, Theme.named(theme) == nil {
            throw ValidationError("unknown theme '\(theme)' (themes: \(Theme.all.map(\.name).joined(separator: ", ")))")
        }
        if let dpi, !(10 ... 2400).contains(dpi) { throw ValidationError("--dpi must be between 10 and 2400") }
        if let format, !Self.formats.contains(format) {
            throw ValidationError("unknown format '\(format)' (formats: \(Self.formats.joined(separator: ", ")))")
        }
        if let output, let format {
            let ext = (output as NSString).pathExtension.lowercased()
            if Self.formats.contains(ext), ext != format { throw ValidationError("--format \(format) does not match the output file '\(output)'") }
        }
        if latex, ["png", "svg"].contains(resolvedFormat) {
            throw ValidationError("--latex goes with PDF (or HTML) output: add --format pdf or name a .pdf with -o")
        }
    }

    /// --format, else the output's extension, else pdf.
    var resolvedFormat: String {
        let ext = output.map { ($0 as NSString).pathExtension.lowercased() } ?? ""
        return format ?? (Self.formats.contains(ext) ? ext : "pdf")
    }

    func run() throws {
        var spec = try DashboardSpec.read(spec, registry: Catalog.registry)
        let name = ((self.spec as NSString).lastPathComponent as NSString).deletingPathExtension
        let fmt = resolvedFormat
        var path = output ?? name + "." + fmt
        if !Self.formats.contains((path as NSString).pathExtension.lowercased()) { path += "." + fmt }
        try FigureWriter.checkFolder(of: path)
        let templates = fmt == "html" ? try PageTemplates.locate() : nil
        if let model { spec.model = model }
        if let theme { spec.theme = Theme.named(theme) ?? spec.theme }
        if let dpi { spec.dpi = dpi }
        guard let text = prompt ?? spec.prompt else {
            throw ValidationError("the spec '\(self.spec)' has no prompt: give one with --prompt")
        }
        guard !text.isEmpty else { throw ModelError.emptyPrompt }
        let loaded = try Model.load(spec.model)
        let ids = loaded.tokenize(text)
        try loaded.validate(ids)
        let input = try AnalysisInput(model: loaded, prompt: text, ids: ids, hooks: spec.hooks)
        let dashboard = try Dashboard(spec: spec, input: input)
        if let templates {
            try dashboard.writeHTML(to: path, formats: [.png, .svg, .pdf], latex: latex, templates: templates)
            printError("wrote \(path) and \((path as NSString).deletingPathExtension)_files/")
        } else {
            let f = FigureFormat(rawValue: fmt)!
            let transaction = FileTransaction()
            try dashboard.writePage(to: path, format: f, in: transaction)
            if f == .pdf, latex {
                try LaTeX.writeSnippet(for: path, size: try dashboard.layout(measure: try Canvas.measuring()).page, in: transaction)
            }
            try transaction.commit()
            if f == .pdf, latex {
                printError("wrote \(path) and \(LaTeX.snippetPath(for: path))")
            } else {
                printError("wrote \(path)")
            }
        }
    }
}

struct GalleryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gallery",
        abstract: "Render a gallery: many views over many prompts, with an index page.",
        discussion: """
        The spec (YAML or JSON) lists models, prompts, prompt sets, figures,
        dashboards, formats and themes; see Gallery/smollm2.yml. The whole spec
        is checked before any work. Figures whose inputs have not changed since
        the last run are skipped; a failing figure does not stop the others.
        Writes DIR/index.html and DIR/manifest.json.

        Examples:
          loupe gallery Gallery/smollm2.yml --out out/gallery
          loupe gallery Gallery/smollm2.yml --out out/gallery --only '*/eiffel'
        """)

    @Argument(help: ArgumentHelp("The gallery spec (YAML or JSON).", valueName: "spec"))
    var spec: String
    @Option(help: ArgumentHelp("The output folder.", valueName: "dir"))
    var out: String
    @Option(help: "Figures rendered at once; the default is the number of cores.")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: ArgumentHelp("Render only figures whose id matches this glob (ids: FIGURE/PROMPT, dashboards/NAME/PROMPT).", valueName: "pattern"))
    var only: String?
    @Flag(help: "Render every figure, even those whose inputs have not changed.")
    var force = false

    func validate() throws {
        guard (1 ... 64).contains(jobs) else { throw ValidationError("--jobs must be 1 to 64") }
    }

    func run() throws {
        let gallery = try GallerySpec.read(spec, registry: Catalog.registry)
        let templates = try PageTemplates.locate()
        let runner = try GalleryRunner(spec: gallery, registry: Catalog.registry,
                                       options: .init(out: out, jobs: jobs, only: only, force: force), templates: templates)
        let summary = try runner.run(progress: TerminalProgress())
        let seconds = String(format: "%.1f", summary.seconds)
        printError("\(summary.rendered) rendered, \(summary.skipped) unchanged, \(summary.failures.count) failed in \(seconds) s")
        if !summary.failures.isEmpty {
            printError("Failed:")
            for f in summary.failures { printError("  \(f)") }
        }
        print(summary.index)
        if !summary.failures.isEmpty { throw ExitCode(1) }
    }
}

/// A progress bar on a terminal; one line per figure otherwise (logs, CI).
final class TerminalProgress: GalleryProgress, Sendable {
    private let terminal = isatty(2) != 0
    /// When the run began; held while a line is written, so lines never interleave.
    private let start = Mutex(Date())

    func begin(total: Int, skipped: Int) {
        start.withLock { $0 = Date() }
        if !terminal { printError("rendering \(total) figures") }
    }

    func finished(_ id: String, status: GalleryRunner.Status, seconds: Double, done: Int, total: Int) {
        start.withLock { start in
            line(id, status: status, seconds: seconds, done: done, total: total, start: start)
        }
    }

    private func line(_ id: String, status: GalleryRunner.Status, seconds: Double, done: Int, total: Int, start: Date) {
        if terminal {
            let width = 28
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            let elapsed = String(format: "%.0f s", Date().timeIntervalSince(start))
            var line = "\r\u{1B}[2K\(bar) \(done)/\(total)  \(elapsed)  \(id)"
            if status == .failed { line = "\r\u{1B}[2Kfailed: \(id)\n" + line }
            FileHandle.standardError.write(Data(line.utf8))
        } else {
            printError("[\(done)/\(total)] \(status.rawValue) \(id) (\(String(format: "%.2f", seconds)) s)")
        }
    }

    func end() {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }
}
