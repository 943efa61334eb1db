import Foundation
import LoupeCore
import LoupeModel
import LoupeRender
import LoupeViews

/// The readers of untrusted input, each as a function of raw bytes, for
/// libFuzzer (`Fuzz/`, built by `make fuzz`) and for the test suite, which
/// replays the committed corpora and every crash found (`Fuzz/corpus/`).
///
/// A target may throw (bad input is expected); it must not trap, hang or
/// print a message that is not one clean line per problem. The message
/// checks make the fuzzer find bad messages as well as crashes.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A GGUF file loaded as a model: header, metadata, tensor table,
    /// config, tokenizer and weights.
    case gguf
    /// A `.safetensors` file read, and every tensor in it decoded.
    case safetensors
    /// `config.json`, a NUL byte, then `tokenizer.json`: the model's config
    /// and tokenizer read from a folder, and a sample text tokenized.
    case configTokenizer = "config-tokenizer"
    /// A YAML gallery spec, and the same text as a dashboard spec.
    case spec
    /// A figure record (`fig.json`) read, validated and drawn once, as `redraw` does.
    case record

    /// Runs the target on one input. Throws `FuzzFinding` when a message is
    /// not clean; other errors (rethrown after their message is checked) are
    /// the input's, and are expected.
    public func run(_ bytes: Data) throws {
        do {
            try body(bytes)
        } catch let finding as FuzzFinding {
            throw finding
        } catch {
            try Self.checkMessage("\(error)", multiline: error is SpecError)
            throw error
        }
    }

    private func body(_ bytes: Data) throws {
        // A folder per call: the tests run targets on several threads at once.
        let scratch = try Self.scratch() + "/" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        switch self {
        case .gguf:
            let path = scratch + "/model.gguf"
            try bytes.write(to: URL(fileURLWithPath: path))
            let model = try Model(path: path)
            try Self.exercise(model)
        case .safetensors:
            let path = scratch + "/weights.safetensors"
            try bytes.write(to: URL(fileURLWithPath: path))
            let file = try SafetensorsFile(path: path)
            for t in file.tensors.prefix(64) where t.end - t.begin <= 1 << 20 {
                if t.dtype == "I32" { _ = try file.int32s(t.name) } else { _ = try file.tensor(t.name) }
            }
        case .configTokenizer:
            let folder = scratch + "/folder"
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let cut = bytes.firstIndex(of: 0) ?? bytes.endIndex
            try bytes[..<cut].write(to: URL(fileURLWithPath: folder + "/config.json"))
            try (cut < bytes.endIndex ? bytes[(cut + 1)...] : Data()).write(to: URL(fileURLWithPath: folder + "/tokenizer.json"))
            let (_, tokenizer) = try Model.configAndTokenizer(folder: folder)
            let ids = tokenizer.encode("Hello, world! The Eiffel Tower is in Paris.\n\t  café 日本 🙂", parseSpecial: true)
            _ = ids.map(tokenizer.displayText(of:))
            _ = tokenizer.decode(ids)
        case .spec:
            let path = scratch + "/gallery.yml"
            try bytes.write(to: URL(fileURLWithPath: path))
            var first: Error?
            do { _ = try GallerySpec.read(path, registry: BuiltinViews.registry) } catch { first = error }
            do { _ = try DashboardSpec.parse(String(decoding: bytes, as: UTF8.self), file: path, registry: BuiltinViews.registry) } catch {
                try Self.checkMessage("\(error)", multiline: error is SpecError)
            }
            if let first { throw first }
        case .record:
            let path = scratch + "/figure.json"
            try bytes.write(to: URL(fileURLWithPath: path))
            let (record, view) = try FigurePipeline.readRecord(path, registry: BuiltinViews.registry)
            // One drawing per input (the input's length picks the theme and
            // width), so that the target runs fast enough to fuzz.
            let canvas = try Canvas.recording()
            let theme = bytes.count % 2 == 0 ? Theme.light : .paper
            let style = FigureStyle(theme: theme, width: bytes.count % 3 == 0 ? 234 : nil, dpi: 72)
            let frame = try FigurePipeline.layout(of: record, view: view, style: style).view
            try view.draw(record.data, record.options, canvas, frame, theme)
            _ = try view.hitRegions(record.data, record.options, frame, theme, canvas)
            _ = try view.exports(record.data, record.options)
        }
    }

    /// Tokenizes and decodes with a loaded model, as `tokenize` and `predict` would.
    private static func exercise(_ model: Model) throws {
        let ids = model.tokenize("The Eiffel Tower is in Paris. café 🙂", parseSpecial: true)
        _ = ids.map(model.tokenizer.displayText(of:))
        _ = model.tokenizer.decode(ids)
        try model.validate(ids)
    }

    /// A message is clean when it has no control characters (other than the
    /// line breaks of a multi-problem spec error) and no line is longer than
    /// 2 000 characters.
    static func checkMessage(_ message: String, multiline: Bool) throws {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
        if !multiline, lines.count > 1 { throw FuzzFinding("a message of \(lines.count) lines: \(printable(message, limit: 300))") }
        for line in lines {
            if line.count > 2000 { throw FuzzFinding("a message line of \(line.count) characters: \(printable(String(line), limit: 300))") }
            if line.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F ..< 0xA0).contains($0.value) }) {
                throw FuzzFinding("a message with control characters: \(printable(String(line), limit: 300))")
            }
        }
    }

    /// A folder of this process's own for the files a target writes.
    private static func scratch() throws -> String {
        let base = PathKind("/dev/shm") == .directory ? "/dev/shm" : NSTemporaryDirectory()
        let folder = base + "/loupe-fuzz-\(getpid())"
        if PathKind(folder) != .directory {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        return folder
    }
}

/// A defect a fuzz target found in Loupe (not in the input): a message
/// that is not one clean line.
public struct FuzzFinding: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
