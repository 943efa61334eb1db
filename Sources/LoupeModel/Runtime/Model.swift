import Foundation

/// The file formats a model can come in.
public enum ModelFormat: String, Sendable, Codable {
    case gguf
    case safetensors
}

/// One row of `loupe inspect`'s tensor table.
public struct TensorSummary: Sendable, Codable {
    public let name: String
    public let shape: [Int]
    public let type: String
}

/// A loaded model: configuration, tokenizer, and Float32 weights.
/// Immutable, so one model serves any number of concurrent forward passes.
public final class Model: Sendable {
    public let path: String
    public let format: ModelFormat
    public let name: String
    public let config: ModelConfig
    public let tokenizer: Tokenizer
    /// Whether text prompts get `tokenizer.bosId` prepended by default: true
    /// for the rotary families (whose attention sinks on it), false for gpt2
    /// and GPT-NeoX.
    public let prependsBOS: Bool
    /// Metadata as strings, in file order, for display.
    public let metadata: [(key: String, value: String)]
    public let tensorTable: [TensorSummary]
    /// Seconds spent reading and dequantizing.
    public let loadSeconds: Double
    let weights: Weights

    /// Where `loupe` looks for its default model:
    /// `$LOUPE_CACHE/SmolLM2-135M-Instruct.Q4_1.gguf`, with `$LOUPE_CACHE`
    /// defaulting to `~/.cache/loupe/models`.
    public static var defaultModelPath: String {
        let env = ProcessInfo.processInfo.environment
        let cache = env["LOUPE_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.cache/loupe/models")
        return cache + "/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    /// Loads the model at `path`, or the default model when `path` is nil.
    public static func load(_ path: String?) throws -> Model {
        guard let path else {
            let p = defaultModelPath
            guard FileManager.default.fileExists(atPath: p) else { throw ModelError.defaultModelMissing(path: p) }
            return try Model(path: p)
        }
        return try Model(path: path)
    }

    /// Loads a GGUF file, a `.safetensors` file (with `config.json` and
    /// `tokenizer.json` beside it), or a Hugging Face model folder.
    public init(path: String) throws {
        let start = Date()
        do { try BLAS.check() } catch { throw ModelError.matrixLibrary(error.description) }
        let kind = PathKind(path)
        switch kind {
        case .missing: throw ModelError.fileNotFound(path: path)
        case let .special(what): throw ModelError.unreadable(path: path, reason: "it is \(what), not a model file or folder")
        case .regular, .directory: break
        }
        let parts: LoadedParts
        if kind == .directory {
            parts = try HuggingFaceLoader.load(folder: path)
        } else if try Self.startsWithGGUFMagic(path) {
            parts = try GGUFLoader.load(path: path)
        } else {
            let folder = (path as NSString).deletingLastPathComponent
            parts = try HuggingFaceLoader.load(folder: folder.isEmpty ? "." : folder, weightsFile: path)
        }
        self.path = path
        format = parts.format
        name = parts.name
        config = parts.config
        tokenizer = parts.tokenizer
        prependsBOS = parts.config.family.prependsBOSByDefault && parts.tokenizer.bosId != nil
        metadata = parts.metadata
        tensorTable = parts.tensorTable
        weights = parts.weights
        loadSeconds = Date().timeIntervalSince(start)
    }

    /// The config and tokenizer of a Hugging Face model folder, without its
    /// weights (what `tokenize` needs).
    public static func configAndTokenizer(folder: String) throws -> (ModelConfig, Tokenizer) {
        let configPath = folder + "/config.json"
        let json = try HuggingFaceLoader.readJSON(configPath)
        return (try ModelConfig.fromHuggingFace(json, path: configPath),
                try HuggingFaceLoader.tokenizerFromJSON(folder: folder, modelConfig: json))
    }

    private static func startsWithGGUFMagic(_ path: String) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ModelError.unreadable(path: path, reason: "permission denied or not a regular file")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 4)) ?? Data()
        return head == Data("GGUF".utf8)
    }

    /// Token ids of a text prompt, with BOS prepended when `bos` is set (by
    /// default, when the model family expects it) and the text does not
    /// already start with it (a chat template written with `parseSpecial`).
    public func tokenize(_ text: String, bos: Bool? = nil, parseSpecial: Bool = false) -> [Int] {
        let body = tokenizer.encode(text, parseSpecial: parseSpecial)
        if bos ?? prependsBOS, let b = tokenizer.bosId, body.first != b { return [b] + body }
        return body
    }

    /// Checks ids before a forward pass: not empty, within the vocabulary and the context.
    public func validate(_ ids: [Int]) throws {
        guard !ids.isEmpty else { throw ModelError.emptyPrompt }
        if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabularySize }) {
            throw ModelError.tokenOutOfVocabulary(id: bad, vocabularySize: config.vocabularySize)
        }
        guard ids.count <= config.contextLength else {
            throw ModelError.promptTooLong(tokens: ids.count, context: config.contextLength)
        }
    }
}

/// What a format-specific loader hands to `Model`.
struct LoadedParts {
    var format: ModelFormat
    var name: String
    var config: ModelConfig
    var tokenizer: Tokenizer
    var metadata: [(key: String, value: String)]
    var tensorTable: [TensorSummary]
    var weights: Weights
}
