import ArgumentParser
import Foundation
import LoupeCore
import LoupeModel
import LoupeRender

/// `--format`, `--width`, `--height`, `--dpi`, `--theme` and `-o`, shared by render and redraw.
struct FigureOptions: ParsableArguments {
    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The figure file; its data goes beside it as .json.", valueName: "path"))
    var output: String?
    @Option(help: ArgumentHelp("png, svg or pdf (default: from the output's extension, else png).", valueName: "format"))
    var format: FigureFormat?
    @Option(help: ArgumentHelp("Figure width: 3.25in, 8cm, 234pt, 1200px (default: the view's natural size).", valueName: "length"))
    var width: String?
    @Option(help: ArgumentHelp("Figure height (default: follows the width).", valueName: "length"))
    var height: String?
    @Option(help: "Resolution of PNG output, in pixels per inch.") var dpi: Double = 200
    @Option(help: ArgumentHelp("light, dark or paper.", valueName: "name")) var theme = "light"
    @Flag(help: "With PDF output, also write a LaTeX \\includegraphics snippet (.tex) with the figure's size.")
    var latex = false

    func validate() throws {
        guard dpi >= 10, dpi <= 2400 else { throw ValidationError("--dpi must be between 10 and 2400") }
        guard Theme.named(theme) != nil else {
            throw ValidationError("unknown theme '\(theme)' (themes: \(Theme.all.map(\.name).joined(separator: ", ")))")
        }
        for (name, value) in [("--width", width), ("--height", height)] {
            guard let value else { continue }
            guard let length = Length(parsing: value) else {
                throw OptionError("\(name) '\(value)' is not a length such as 3.25in, 8cm, 234pt or 1200px")
            }
            // As gallery and dashboard specs allow: a figure from half an inch to 200 inches.
            let points = length.points(dpi: dpi)
            guard points >= 36, points <= 14_400 else {
                throw OptionError("\(name) \(value) is outside 0.5in to 200in (36pt to 14400pt)")
            }
        }
        if let output, let ext = FigureFormat(path: output), let format, ext != format {
            throw ValidationError("--format \(format.rawValue) does not match the output file '\(output)'")
        }
        if latex, (format ?? output.flatMap(FigureFormat.init(path:)) ?? .png) != .pdf {
            throw ValidationError("--latex goes with PDF output: add --format pdf or name a .pdf with -o")
        }
    }

    /// Writes the LaTeX snippet beside a PDF when --latex asks for it.
    func writeLaTeX(_ record: FigureRecord, view: RegisteredView, path: String, format: FigureFormat, in transaction: FileTransaction) throws {
        guard latex, format == .pdf else { return }
        try LaTeX.writeSnippet(for: path, size: try FigurePipeline.size(of: record, view: view, style: style), in: transaction)
    }

    /// Writes the figure, its data (unless `writeData` is false) and its
    /// LaTeX snippet as one transaction, and says what was written.
    func write(_ record: FigureRecord, view: RegisteredView, path: String, format: FigureFormat, writeData: Bool = true) throws {
        let transaction = FileTransaction()
        try FigurePipeline.write(record, view: view, to: path, format: format, style: style, writeData: writeData, in: transaction)
        try writeLaTeX(record, view: view, path: path, format: format, in: transaction)
        try transaction.commit()
        printError("wrote \(path)" + (writeData ? " and \(FigurePipeline.dataPath(for: path))" : ""))
        if latex, format == .pdf { printError("wrote \(LaTeX.snippetPath(for: path))") }
    }

    var style: FigureStyle {
        FigureStyle(theme: Theme.named(theme) ?? .light,
                    width: width.flatMap(Length.init(parsing:))?.points(dpi: dpi),
                    height: height.flatMap(Length.init(parsing:))?.points(dpi: dpi), dpi: dpi)
    }

    /// The output path and format, defaulting to `base.png`.
    /// An output path with an extension that is not a figure format is an
    /// error, not a PNG with ".png" added to its name.
    func destination(defaultBase base: String) throws -> (path: String, format: FigureFormat) {
        if let output {
            if case let .special(what) = PathKind(output) {
                throw OptionError("-o '\(output)' is \(what); Loupe writes figures only to regular files")
            }
            let ext = (output as NSString).pathExtension
            if !ext.isEmpty, FigureFormat(path: output) == nil {
                throw OptionError("-o '\(output)': '.\(ext)' is not a figure format (png, svg, pdf)")
            }
            let f = format ?? FigureFormat(path: output) ?? .png
            return (FigureFormat(path: output) == nil ? output + "." + f.rawValue : output, f)
        }
        let f = format ?? .png
        return (base + "." + f.rawValue, f)
    }
}

extension FigureFormat: ExpressibleByArgument {}

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a view of the model on a prompt.",
        discussion: """
        Writes the figure and, beside it, its data as JSON (fig.png → fig.json),
        which 'loupe redraw' turns into another size, theme or format.

        Examples:
          loupe render logit-lens --prompt "The Eiffel Tower is in the city of" -o lens.png
          loupe render attention --prompt "a b c a b c" --set mode=scores --set score=induction
          loupe render logit-lens --prompt "..." --theme paper --width 3.25in -o fig1.pdf
        """)

    @Argument(help: ArgumentHelp("The view id (see 'loupe views').", valueName: "view")) var view: String
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var input: InputOptions
    @Option(name: .customLong("set"), help: ArgumentHelp("A view option, key=value (repeatable).", valueName: "key=value"))
    var assignments: [String] = []
    @Option(name: .customLong("options"), help: ArgumentHelp("View options from a YAML or JSON file.", valueName: "file"))
    var optionsFile: String?
    @OptionGroup var figure: FigureOptions

    func run() throws {
        let registered = try Catalog.registry.view(view)
        var values = try optionsFile.map(OptionsFile.read) ?? [:]
        for (k, v) in try OptionsFile.parseAssignments(assignments) { values[k] = v }
        let options = try registered.resolveOptions(values)
        let (path, format) = try figure.destination(defaultBase: view)
        try FigureWriter.checkFolder(of: path)
        let model = try modelOptions.load()
        // A view that reads no prompt (neuron clusters) runs on BOS alone.
        let noPrompt = !input.isGiven && !registered.info.usesPrompt
        let ids = noPrompt ? [model.tokenizer.bosId ?? 0] : try input.tokens(for: model)
        var analysis = try AnalysisInput(model: model, prompt: noPrompt ? "" : input.description, ids: ids,
                                         hooks: registered.info.hookFilter)
        // A long analysis (a dream's steps) shows how far it is, on a terminal only.
        let terminal = isatty(2) != 0
        if terminal {
            analysis.progress = { stage, done, total in
                FileHandle.standardError.write(Data("\r\u{1B}[2K\(view): \(stage) \(done)/\(total)".utf8))
            }
        }
        defer { if terminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) } }
        let record = try FigurePipeline.analyze(registered, input: analysis, options: options)
        try figure.write(record, view: registered, path: path, format: format)
    }
}

struct Redraw: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a figure again from its data JSON, without the model.",
        discussion: """
        Examples:
          loupe redraw lens.json --format pdf --theme paper --width 3.25in
          loupe redraw lens.json -o lens-dark.png --theme dark
        """)

    @Argument(help: ArgumentHelp("A figure's data file, written beside it by 'loupe render'.", valueName: "data.json"))
    var data: String
    @OptionGroup var figure: FigureOptions

    func run() throws {
        let (record, registered) = try FigurePipeline.readRecord(data, registry: Catalog.registry)
        let base = (data as NSString).deletingPathExtension
        let (path, format) = try figure.destination(defaultBase: base)
        // Without -o, never replace a figure already there (the original, say).
        if figure.output == nil, FileManager.default.fileExists(atPath: path) {
            throw ValidationError("'\(path)' exists: name the new figure with -o")
        }
        let dataPath = FigurePipeline.dataPath(for: path)
        let samePlace = URL(fileURLWithPath: dataPath).standardizedFileURL == URL(fileURLWithPath: data).standardizedFileURL
        try figure.write(record, view: registered, path: path, format: format, writeData: !samePlace)
    }
}

struct Views: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the views and their options.",
        discussion: """
        Example:
          loupe views --json
        """)

    @Flag(help: "Print JSON.") var json = false

    struct Entry: Encodable {
        let id: String
        let title: String
        let summary: String
        let options: [OptionDoc]
    }

    func run() throws {
        let entries = Catalog.registry.views.map { Entry(id: $0.info.id, title: $0.info.title, summary: $0.info.summary, options: $0.info.options) }
        if json {
            print(try jsonLine(entries))
            return
        }
        for e in entries {
            print("\(e.id) — \(e.title)")
            print("  \(e.summary)")
            let nameWidth = max(10, e.options.map(\.name.count).max() ?? 0)
            for o in e.options {
                let allowed = o.allowed.map { " (\($0.joined(separator: ", ")))" } ?? ""
                let range = o.range.map { " [\($0)]" } ?? ""
                print("    \(o.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)) \(o.kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) default \(o.defaultValue.isEmpty ? "\"\"" : o.defaultValue)  \(o.doc)\(allowed)\(range)")
            }
            print("")
        }
    }
}
