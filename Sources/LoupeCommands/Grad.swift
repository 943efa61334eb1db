import ArgumentParser
import Foundation
import LoupeModel

struct Grad: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Save the gradient of an objective with respect to the input embeddings.",
        discussion: """
        SPEC is one of:
          neuron:LAYER:INDEX[@POS]    blocks.LAYER.mlp.hook_post[POS, INDEX]; @sum sums over positions
          logit:TOKEN_ID[@POS]        logits[POS, TOKEN_ID]
          direction:LAYER:FILE[@POS]  <blocks.LAYER.hook_resid_post[POS], v> with v read from FILE
                                      (d_model little-endian float32 values, or numbers in text or JSON)
        POS defaults to the last position; negative values count from the end.
        Writes grad_embed [T, d_model], objective (a scalar) and tokens (int32 [T]).

        Examples:
          loupe grad --prompt "The capital of France is" --objective logit:7042 --out paris.safetensors
          loupe grad --prompt "The capital of France is" --objective neuron:15:100@-1 --out n100.safetensors
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var input: InputOptions
    @Option(help: ArgumentHelp("What to differentiate (see above).", valueName: "spec")) var objective: String
    @Option(help: ArgumentHelp("The safetensors file to write.", valueName: "file")) var out: String

    func run() throws {
        _ = try FileTransaction.checkTarget(out)
        let model = try modelOptions.load()
        let spec = try ObjectiveSpec.parse(objective, dModel: model.config.dModel)
        let ids = try input.tokens(for: model)
        let result = try model.gradient(of: spec, ids: ids)
        var writer = SafetensorsWriter()
        writer.add("grad_embed", result.embeddings)
        writer.add("objective", Tensor(shape: [], data: [result.value]))
        writer.add("tokens", shape: [ids.count], int32: ids.map { Int32($0) })
        writer.metadata = ["model": model.name, "prompt": input.description, "objective": objective,
                           "ids": ids.map(String.init).joined(separator: ","), "loupe_version": LoupeCommand.version]
        try writer.write(to: out)
        printError("objective \(result.value); wrote the gradient for \(ids.count) tokens to \(out)")
    }
}

/// Parses `neuron:L:I[@P]`, `logit:T[@P]`, `direction:L:FILE[@P]`.
enum ObjectiveSpec {
    static func parse(_ text: String, dModel: Int) throws -> Objective {
        var body = Substring(text)
        var position: Int? = -1
        // A trailing @POS or @sum; an @ that is part of a file name stays in it.
        if let at = body.lastIndex(of: "@") {
            let p = body[body.index(after: at)...]
            if p == "sum" {
                position = nil
                body = body[..<at]
            } else if let v = Int(p) {
                position = v
                body = body[..<at]
            }
        }
        let parts = body.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        func int(_ s: String, _ what: String) throws -> Int {
            guard let v = Int(s) else { throw bad(text, "'\(s)' is not \(what)") }
            return v
        }
        switch parts.first {
        case "neuron":
            guard parts.count == 3 else { throw bad(text, "expected neuron:LAYER:INDEX[@POS]") }
            return .neuron(layer: try int(parts[1], "a layer"), index: try int(parts[2], "a neuron index"), position: position)
        case "logit":
            guard parts.count == 2 else { throw bad(text, "expected logit:TOKEN_ID[@POS]") }
            guard let position else { throw bad(text, "a logit is taken at one position, not summed") }
            return .logit(token: try int(parts[1], "a token id"), position: position)
        case "direction":
            guard parts.count == 3 else { throw bad(text, "expected direction:LAYER:FILE[@POS]") }
            guard let position else { throw bad(text, "a direction is read at one position, not summed") }
            return .direction(layer: try int(parts[1], "a layer"), vector: try readVector(parts[2], dModel: dModel), position: position)
        default:
            throw bad(text, "it must start with neuron:, logit: or direction:")
        }
    }

    /// A direction: d_model raw float32 values, or numbers in text or JSON.
    static func readVector(_ path: String, dModel: Int) throws -> [Float] {
        let data: Data
        do throws(FileProblem) { data = try InputFile.read(path) } catch { throw ModelError.badObjective("direction file '\(path)': \(error.reason)") }
        let text = String(decoding: data, as: UTF8.self)
        let numbers = text.split { " \t\n\r,[]".contains($0) }.compactMap { Float($0) }
        let isText = !numbers.isEmpty && text.allSatisfy { "0123456789.-+eE \t\n\r,[]".contains($0) }
        let values: [Float] = isText ? numbers : data.count % 4 == 0
            ? data.withUnsafeBytes { raw in (0 ..< data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
            : []
        guard values.count == dModel else {
            throw ModelError.badObjective("the direction in '\(path)' has \(isText ? values.count : data.count / 4) values but the residual stream has \(dModel)")
        }
        return values
    }

    static func bad(_ spec: String, _ detail: String) -> ValidationError {
        ValidationError("--objective '\(spec)': \(detail)")
    }
}
