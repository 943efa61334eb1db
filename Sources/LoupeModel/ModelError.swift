import Foundation

/// Everything that can go wrong while loading or running a model.
///
/// Messages are one line, lower case, quote the subject, and where there is
/// something to do, say it.
public enum ModelError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// No file or folder at the path.
    case fileNotFound(path: String)
    /// The default model has not been fetched into the cache yet.
    case defaultModelMissing(path: String)
    /// The file exists but could not be opened or mapped.
    case unreadable(path: String, reason: String)
    /// The file is neither GGUF nor safetensors (nor a Hugging Face folder).
    case unknownFormat(path: String, found: String)
    /// The file ends before a value that its own structure promises.
    case truncated(path: String, offset: Int, expected: String)
    /// A value read from the file is outside its valid range.
    case corrupt(path: String, offset: Int, detail: String)
    /// The file describes an architecture this runtime does not implement.
    case unsupportedArchitecture(path: String, architecture: String)
    /// A configuration field or metadata key whose value Loupe does not implement.
    case unsupportedSetting(path: String, field: String, value: String, supported: String)
    /// A configuration field or metadata key Loupe does not know for the family.
    case unknownField(path: String, field: String, value: String, family: String)
    /// A field present with a value of the wrong type.
    case badField(path: String, field: String, expected: String, found: String)
    /// A tensor in the file that the family does not use.
    case unexpectedTensor(path: String, tensor: String, family: String)
    /// A bug in Loupe: two of its own tables disagree.
    case internalInconsistency(String)
    /// A tensor is stored in a type this runtime cannot dequantize.
    case unsupportedTensorType(path: String, tensor: String, type: String)
    /// A tensor the architecture needs is absent.
    case missingTensor(path: String, tensor: String)
    /// A tensor has a different shape than the configuration implies.
    case badTensorShape(path: String, tensor: String, expected: [Int], found: [Int])
    /// A metadata key or config field the architecture needs is absent or ill-typed.
    case missingMetadata(path: String, key: String)
    /// The tokenizer description is missing or malformed.
    case badTokenizer(path: String, detail: String)
    /// A prompt that tokenizes to no tokens at all.
    case emptyPrompt
    /// More tokens than the model's context window.
    case promptTooLong(tokens: Int, context: Int)
    /// A token id outside the vocabulary.
    case tokenOutOfVocabulary(id: Int, vocabularySize: Int)
    /// A hook pattern that names no hook point of this model.
    case unknownHook(pattern: String, example: String)
    /// The forward pass produced NaN or infinity.
    case nonFiniteActivation(hook: String, position: Int)
    /// The backward pass produced NaN or infinity.
    case nonFiniteGradient(objective: String)
    /// A gradient objective that does not fit the model or the prompt.
    case badObjective(String)
    /// An activation patch, or a clean and corrupted pair, that cannot be patched.
    case badPatch(String)
    /// An output file could not be written.
    case writeFailed(path: String, reason: String)
    /// The matrix-product library `LOUPE_BLAS` names cannot be used.
    case matrixLibrary(String)
    /// A problem with one sequence of a batch run together (`sequence` counts from 0).
    indirect case inBatch(sequence: Int, count: Int, error: ModelError)

    public var description: String {
        switch self {
        case let .fileNotFound(path):
            return "no model at '\(path)': give a GGUF file, a .safetensors file, or a Hugging Face model folder"
        case let .defaultModelMissing(path):
            return "the default model is not in the cache ('\(path)'): fetch it with 'make setup' or 'scripts/setup.sh model', or pass --model"
        case let .unreadable(path, reason):
            return "cannot read '\(path)': \(reason)"
        case let .unknownFormat(path, found):
            return "'\(path)' is neither GGUF nor safetensors (it starts with \(shown(found)))"
        case let .truncated(path, offset, expected):
            return "'\(path)' is truncated or corrupt: at byte \(offset) expected \(expected), but the file ends"
        case let .corrupt(path, offset, detail):
            return "'\(path)' is corrupt at byte \(offset): \(detail)"
        case let .unsupportedArchitecture(path, architecture):
            return "'\(path)': architecture '\(shown(architecture))' is not supported (supported: \(Family.supportedNames))"
        case let .unsupportedSetting(path, field, value, supported):
            return "'\(path)': \(shown(field)) \(shown(value)) is not supported (supported: \(supported))"
        case let .unknownField(path, field, value, family):
            return "'\(path)': field '\(shown(field))' (\(shown(value))) is not one Loupe knows for \(family) models; it may change the computation, so the model is refused"
        case let .badField(path, field, expected, found):
            return "'\(path)': field '\(shown(field))' must be \(expected), found \(shown(found))"
        case let .unexpectedTensor(path, tensor, family):
            return "'\(path)' holds tensor '\(shown(tensor))', which a \(family) model does not use; it may change the computation, so the model is refused"
        case let .internalInconsistency(detail):
            return "internal error (please report): \(detail)"
        case let .unsupportedTensorType(path, tensor, type):
            return "'\(path)': tensor '\(shown(tensor))' has type \(shown(type)), which Loupe cannot dequantize (supported: \(GGMLType.supportedNames))"
        case let .missingTensor(path, tensor):
            return "'\(path)' has no tensor '\(shown(tensor))'"
        case let .badTensorShape(path, tensor, expected, found):
            return "'\(path)': tensor '\(shown(tensor))' has shape \(found), expected \(expected)"
        case let .missingMetadata(path, key):
            return "'\(path)' lacks '\(shown(key))'"
        case let .badTokenizer(path, detail):
            return "tokenizer in '\(path)': \(detail)"
        case .emptyPrompt:
            return "the prompt is empty: give some text with --prompt or ids with --ids"
        case let .promptTooLong(tokens, context):
            return "the prompt has \(tokens) tokens but the model's context holds \(context): shorten it"
        case let .tokenOutOfVocabulary(id, size):
            return "token id \(id) is outside the vocabulary (valid ids are 0 to \(size - 1))"
        case let .unknownHook(pattern, example):
            return "hook pattern '\(shown(pattern))' matches no hook point (for example '\(example)'; see 'loupe inspect')"
        case let .nonFiniteActivation(hook, position):
            return "the forward pass produced NaN or infinity at '\(hook)', position \(position): the model weights may be corrupt"
        case let .nonFiniteGradient(objective):
            return "the gradient of \(objective) is NaN or infinite: check the input (for text deep dream, the temperature, learning rate and initial logit)"
        case let .badObjective(detail):
            return "objective: \(detail)"
        case let .badPatch(detail):
            return "activation patching: \(detail)"
        case let .writeFailed(path, reason):
            return "cannot write '\(path)': \(reason)"
        case let .matrixLibrary(detail):
            return detail
        case let .inBatch(sequence, count, error):
            return "sequence \(sequence + 1) of \(count) in the batch: \(error.description)"
        }
    }

    public var errorDescription: String? { description }
}

/// A name or value read from a file, as messages quote it: escaped and cut.
func shown(_ s: String) -> String { printable(s, limit: 120) }
