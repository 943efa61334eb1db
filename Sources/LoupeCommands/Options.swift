import ArgumentParser
import Foundation
import LoupeModel

/// `--model`, shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "A GGUF file, a .safetensors file, or a Hugging Face model folder.",
        discussion: "Defaults to SmolLM2-135M-Instruct in $LOUPE_CACHE (~/.cache/loupe/models).",
        valueName: "path"))
    var model: String?

    func load() throws -> Model {
        try Model.load(model)
    }
}

/// `--prompt` or `--ids`, and `--no-bos`.
struct InputOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The text to run. BOS is prepended for llama-family models.", valueName: "text"))
    var prompt: String?

    // Unconditional: `--ids -1` is a (bad) id, not a missing value followed by an option.
    @Option(name: .long, parsing: .unconditional,
            help: ArgumentHelp("Token ids to run as given, comma-separated (no BOS is added).", valueName: "1,2,3"))
    var ids: String?

    @Flag(name: .customLong("no-bos"), help: "Do not prepend the BOS token to --prompt.")
    var noBOS = false

    @Flag(help: "Match control tokens such as <|im_start|> written in --prompt (for chat templates).")
    var special = false

    /// Whether any input was given (some views read none).
    var isGiven: Bool { prompt != nil || ids != nil }

    func validate() throws {
        if prompt != nil && ids != nil { throw ValidationError("give either --prompt or --ids, not both") }
        if let ids { _ = try parseIDs(ids) }
    }

    /// The token ids to run, checked against the model's vocabulary and context.
    func tokens(for model: Model) throws -> [Int] {
        guard isGiven else { throw ValidationError("give the input with --prompt TEXT or --ids 1,2,3") }
        let result: [Int]
        if let ids {
            result = try parseIDs(ids)
        } else {
            let text = prompt ?? ""
            guard !text.isEmpty else { throw ModelError.emptyPrompt }
            result = model.tokenize(text, bos: noBOS ? false : nil, parseSpecial: special)
        }
        try model.validate(result)
        return result
    }

    /// The text to record as the prompt in outputs.
    var description: String { prompt ?? "ids: \(ids ?? "")" }

    private func parseIDs(_ s: String) throws -> [Int] {
        let parts = s.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        if parts.count == 1 && parts[0].isEmpty { throw ModelError.emptyPrompt }
        return try parts.map { p in
            guard let v = Int(p) else { throw OptionError("--ids: '\(printable(p, limit: 40))' is not an integer token id") }
            guard v >= 0 else { throw OptionError("--ids: \(v) is not a token id (ids are 0 or more)") }
            return v
        }
    }
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A compact JSON encoding with stable key order.
func jsonLine<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

/// A bad option value found while a command runs: one line, without the
/// usage text that ArgumentParser prints for its own validation errors.
struct OptionError: Error, CustomStringConvertible, LocalizedError {
    let description: String
    init(_ message: String) { description = message }
    var errorDescription: String? { description }
}
