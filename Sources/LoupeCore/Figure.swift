import Foundation
import LoupeSupport
import LoupeModel
import LoupeRender

/// Everything needed to draw a figure again without the model: written as
/// JSON beside every figure (`fig.png` → `fig.json`).
///
/// Options and data are the view's own values; the view's concrete types
/// read and write the file (see `RegisteredView`), so numbers and booleans
/// keep their types exactly, and drawing never re-parses JSON.
public struct FigureRecord: Sendable {
    public var loupeVersion: String
    public var view: String
    public var model: String
    /// The model's file, family and storage; nil in records written before
    /// Loupe recorded them.
    public var identity: ModelIdentity?
    public var prompt: String
    public var ids: [Int]
    /// The view's complete options (defaults filled in): its `Options` value.
    public var options: any Sendable
    /// The view's data, the numbers behind the figure: its `Data` value.
    public var data: any Sendable

    public init(loupeVersion: String = FigurePipeline.version, view: String, model: String, identity: ModelIdentity? = nil,
                prompt: String, ids: [Int], options: any Sendable, data: any Sendable) {
        self.loupeVersion = loupeVersion; self.view = view; self.model = model; self.identity = identity
        self.prompt = prompt; self.ids = ids; self.options = options; self.data = data
    }

    /// The line naming the model at the foot of the figure.
    public var modelCaption: String { identity?.caption ?? model }
}

/// The file layout of a figure record, with the view's own types.
struct TypedRecord<Options: Codable, Payload: Codable>: Codable {
    var loupeVersion: String
    var view: String
    var model: String
    var modelIdentity: ModelIdentity?
    var prompt: String
    var ids: [Int]
    var options: Options
    var data: Payload

    enum CodingKeys: String, CodingKey {
        case loupeVersion = "loupe_version", view, model, modelIdentity = "model_identity", prompt, ids, options, data
    }
}

/// Just enough of a record to find its view.
struct RecordHeader: Decodable {
    var view: String
}

/// How a figure is laid out on the page.
public struct FigureStyle: Sendable {
    public var theme: Theme
    /// Requested width and height in points; nil takes the view's natural size.
    public var width: Double?
    public var height: Double?
    public var dpi: Double

    public init(theme: Theme = .light, width: Double? = nil, height: Double? = nil, dpi: Double = 200) {
        self.theme = theme; self.width = width; self.height = height; self.dpi = dpi
    }
}

/// Analysis, drawing and writing of figures.
public enum FigurePipeline {
    public static let version = "0.1.0"

    /// Analyses `input` with `view` and returns the figure's record.
    public static func analyze(_ view: RegisteredView, input: AnalysisInput, options: any Sendable) throws -> FigureRecord {
        let data = try view.analyze(input, options)
        return FigureRecord(loupeVersion: version, view: view.info.id, model: input.model.name, identity: input.model.identity,
                            prompt: input.prompt, ids: input.ids, options: options, data: data)
    }

    /// Where a figure's parts go: the view's frame at the top, the line
    /// naming the model below it.
    public struct Layout: Sendable {
        public var page: Size
        public var view: Rect
        public var modelLine: ModelLine
    }

    /// The page, the view's frame and the model line. A requested height is
    /// the page's: the view gets it less the model line.
    public static func layout(of record: FigureRecord, view: RegisteredView, style: FigureStyle) throws -> Layout {
        let measure = try Canvas.measuring()
        let natural = try view.size(record.data, record.options, style.theme, style.width, measure)
        let width = style.width ?? natural.width
        let line = ModelLine(record.modelCaption, width: width, theme: style.theme, measure: measure)
        let viewHeight = style.height.map { $0 - line.height } ?? natural.height
        guard viewHeight >= 18 else {
            throw CoreError.badOptions(source: "--height", detail: "\(ColorScale.format((style.height ?? 0) / 72)) in leaves no room for the figure below its model line")
        }
        return Layout(page: Size(width, viewHeight + line.height), view: Rect(x: 0, y: 0, width: width, height: viewHeight), modelLine: line)
    }

    /// The size the figure will have in points.
    public static func size(of record: FigureRecord, view: RegisteredView, style: FigureStyle) throws -> Size {
        try layout(of: record, view: view, style: style).page
    }

    /// Draws the figure: background, the view in its frame, the model line.
    public static func draw(_ record: FigureRecord, view: RegisteredView, layout: Layout, theme: Theme, on canvas: Canvas) throws {
        canvas.fill(Rect(x: 0, y: 0, width: layout.page.width, height: layout.page.height), theme.background)
        try view.draw(record.data, record.options, canvas, layout.view, theme)
        layout.modelLine.draw(on: canvas, top: layout.view.maxY, theme: theme)
    }

    /// The record drawn as a PNG in memory, as `write` would draw it (for
    /// golden-image tests of a view's drawing).
    public static func png(of record: FigureRecord, view: RegisteredView, style: FigureStyle) throws -> Data {
        let layout = try layout(of: record, view: view, style: style)
        return try FigureWriter.png(size: layout.page, dpi: style.dpi, metadata: FigureMetadata(title: view.info.title, software: "Loupe \(version)")) { canvas in
            try draw(record, view: view, layout: layout, theme: style.theme, on: canvas)
        }
    }

    /// Draws the record and writes it in `format` to `path`, with the record
    /// as JSON beside it (same name, `.json`). The two are one transaction:
    /// both appear together or, if anything fails, neither changes. Given a
    /// `transaction`, they are staged in it and appear when it commits.
    public static func write(_ record: FigureRecord, view: RegisteredView, to path: String, format: FigureFormat,
                             style: FigureStyle, writeData: Bool = true, in transaction: FileTransaction? = nil) throws {
        let t = transaction ?? FileTransaction()
        let layout = try layout(of: record, view: view, style: style)
        let options = String(decoding: try view.optionsJSON(record.options), as: UTF8.self)
        let metadata = FigureMetadata(
            title: "\(view.info.title): \(record.prompt)",
            entries: [("loupe:view", record.view), ("loupe:model", record.modelCaption), ("loupe:prompt", record.prompt),
                      ("loupe:options", options), ("loupe:version", record.loupeVersion)],
            software: "Loupe \(record.loupeVersion)")
        if writeData {
            try FileTransaction.checkTarget(dataPath(for: path))
        }
        try FigureWriter.write(to: path, format: format, size: layout.page, dpi: style.dpi, metadata: metadata, in: t) { canvas in
            try draw(record, view: view, layout: layout, theme: style.theme, on: canvas)
        }
        if writeData {
            try t.stage(try view.encodeRecord(record), to: dataPath(for: path))
        }
        if transaction == nil { try t.commit() }
    }

    /// `fig.png` → `fig.json`.
    public static func dataPath(for figure: String) -> String {
        ((figure as NSString).deletingPathExtension) + ".json"
    }

    /// Reads a record and finds its view in `registry`.
    public static func readRecord(_ path: String, registry: ViewRegistry) throws -> (FigureRecord, RegisteredView) {
        let bytes: Foundation.Data
        do throws(FileProblem) { bytes = try InputFile.read(path) } catch {
            throw CoreError.badFigureData(path: path, detail: error.reason)
        }
        let header: RecordHeader
        do { header = try JSONDecoder().decode(RecordHeader.self, from: bytes) } catch let error as DecodingError {
            if case .dataCorrupted = error { throw CoreError.badFigureData(path: path, detail: "not valid JSON (\(describe(error)))") }
            throw CoreError.badFigureData(path: path, detail: "not a Loupe figure record (no 'view')")
        }
        let view = try registry.view(header.view)
        do { return (try view.decodeRecord(bytes), view) } catch let error as DecodingError {
            throw CoreError.badFigureData(path: path, detail: "its options or data do not fit view '\(printable(header.view, limit: 100))' (\(describe(error)))")
        } catch let problem as RecordProblem {
            throw CoreError.badFigureData(path: path, detail: "\(problem) in a record of view '\(header.view)'")
        }
    }
}

/// A decoding error in one line: what was wrong, and where.
func describe(_ error: DecodingError) -> String {
    func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }
    switch error {
    case let .keyNotFound(key, c): return "missing '\(path(c.codingPath + [key]))'"
    case let .typeMismatch(_, c), let .valueNotFound(_, c): return "wrong type at '\(path(c.codingPath))'"
    case let .dataCorrupted(c): return c.codingPath.isEmpty ? "not valid JSON" : "bad value at '\(path(c.codingPath))'"
    @unknown default: return "\(error)"
    }
}

/// The line at the foot of every figure naming its model (file · family ·
/// storage), in the theme's annotation size and muted colour, wrapped at
/// its separators when the figure is narrow.
public struct ModelLine: Sendable {
    public var lines: [String]
    public var lineHeight: Double
    public var gap: Double
    /// The width a line may take; a single part longer than this (a very
    /// long file name) is cut rather than run off the page.
    public var room: Double

    public init(_ caption: String, width: Double, theme: Theme, measure: Canvas) {
        let font = theme.annotationFont
        let room = max(1, width - 2 * theme.margin)
        self.room = room
        var lines: [String] = []
        for part in caption.components(separatedBy: " · ") {
            if let last = lines.last, measure.measure(last + " · " + part, font).width <= room {
                lines[lines.count - 1] = last + " · " + part
            } else {
                lines.append(part)
            }
        }
        self.lines = lines
        lineHeight = measure.measure("Mg", font).height
        gap = theme.gap
    }

    public var height: Double { Double(lines.count) * lineHeight + 2 * gap }

    public func draw(on canvas: Canvas, top: Double, theme: Theme) {
        for (i, line) in lines.enumerated() {
            canvas.text(line, at: Point(theme.margin, top + gap + Double(i) * lineHeight), font: theme.annotationFont,
                        color: theme.muted, maxWidth: room)
        }
    }
}
