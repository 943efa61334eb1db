import Foundation
import LoupeModel
import LoupeSupport

/// Checks several views need against the model they run on: option ranges
/// that only the model knows. Ranges the declaration knows are checked
/// earlier, when the options are read (see `ViewOption`).
extension AnalysisInput {
    /// `layer` names a block of the model.
    public func checkLayer(_ layer: Int, view: String, option: String = "layer") throws {
        let n = model.config.layers
        guard (0 ..< n).contains(layer) else {
            throw CoreError.invalidInput(view: view, detail: "\(option) \(layer) is out of range (the model has blocks 0 to \(n - 1))")
        }
    }

    /// `head` names a query head of the model.
    public func checkHead(_ head: Int, view: String, option: String = "head") throws {
        let n = model.config.heads
        guard (0 ..< n).contains(head) else {
            throw CoreError.invalidInput(view: view, detail: "\(option) \(head) is out of range (the model has heads 0 to \(n - 1))")
        }
    }

    /// `neuron` names a neuron of the MLP's hidden layer.
    public func checkNeuron(_ neuron: Int, view: String, option: String = "neuron") throws {
        let n = model.config.dMLP
        guard (0 ..< n).contains(neuron) else {
            throw CoreError.invalidInput(view: view, detail: "\(option) \(neuron) is out of range (the MLP has neurons 0 to \(n - 1))")
        }
    }
}

/// A token named by an option (`target`, `counterfactual`): its id and its
/// display text.
public struct NamedToken: Codable, Sendable, Equatable {
    public var id: Int
    public var text: String

    public init(id: Int, text: String) { self.id = id; self.text = text }

    /// The option's value as one token: `id:N`, or text that the tokenizer
    /// makes exactly one token (`' Paris'`, its leading space included).
    /// Empty text is nil: the option is not set.
    public static func resolve(_ value: String, model: Model, view: String, option: String) throws -> NamedToken? {
        guard !value.isEmpty else { return nil }
        let vocab = model.config.vocabularySize
        if value.hasPrefix("id:") {
            guard let id = Int(value.dropFirst(3)) else {
                throw CoreError.invalidInput(view: view, detail: "\(option) '\(printable(value, limit: 40))' is not id:N with N a whole number")
            }
            guard (0 ..< vocab).contains(id) else {
                throw CoreError.invalidInput(view: view, detail: "\(option) id \(id) is outside the vocabulary (0 to \(vocab - 1))")
            }
            return NamedToken(id: id, text: model.tokenizer.displayText(of: id))
        }
        let ids = model.tokenizer.encode(value)
        guard ids.count == 1 else {
            let pieces = ids.map { "'" + TokenText.visible(model.tokenizer.displayText(of: $0)) + "'" }.joined(separator: " ")
            throw CoreError.invalidInput(view: view, detail: "\(option) '\(printable(value, limit: 80))' is \(ids.count) tokens (\(pieces)), not one; name one token, or its id as id:N")
        }
        return NamedToken(id: ids[0], text: model.tokenizer.displayText(of: ids[0]))
    }
}

extension AnalysisInput {
    /// A `position` option (negative counts from the end) as an index of the prompt.
    public func position(_ p: Int, view: String, option: String = "position") throws -> Int {
        let t = ids.count, resolved = p < 0 ? t + p : p
        guard (0 ..< t).contains(resolved) else {
            throw CoreError.invalidInput(view: view, detail: "\(option) \(p) is not a position of the prompt's \(t) tokens (0 to \(t - 1), or -1 to -\(t))")
        }
        return resolved
    }
}

/// A direction in the residual stream read from `path`: `dModel` float32
/// values (little-endian), or numbers as text (spaces, commas or a JSON
/// array). Errors name the file and `view`.
public func readDirection(_ path: String, dModel: Int, view: String) throws -> [Float] {
    let data: Foundation.Data
    do throws(FileProblem) { data = try InputFile.read(path) } catch {
        throw CoreError.invalidInput(view: view, detail: "direction file '\(printable(path, limit: 200))': \(error.reason)")
    }
    let text = String(decoding: data, as: UTF8.self)
    let isText = text.allSatisfy { "0123456789.-+eE \t\n\r,[]".contains($0) }
    let values: [Float] = isText
        ? text.split { " \t\n\r,[]".contains($0) }.compactMap { Float($0) }
        : data.withUnsafeBytes { raw in (0 ..< data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
    guard values.count == dModel, data.count % 4 == 0 || isText else {
        throw CoreError.invalidInput(view: view, detail: "the direction in '\(printable(path, limit: 200))' has \(values.count) values but the residual stream has \(dModel)")
    }
    return values
}
