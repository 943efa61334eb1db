import Foundation

/// Where a model's tensors come from: a GGUF file or safetensors shards.
protocol TensorSource {
    var path: String { get }
    /// Every tensor's name, in file order.
    var names: [String] { get }
    func has(_ name: String) -> Bool
    func shape(_ name: String) -> [Int]?
    func tensor(_ name: String) throws -> Tensor
}

extension GGUFFile: TensorSource {
    var names: [String] { tensors.map(\.name) }
    func has(_ name: String) -> Bool { info(name) != nil }
    func shape(_ name: String) -> [Int]? { info(name)?.shape }
}

/// A Hugging Face checkpoint: one `model.safetensors` or the shards listed in
/// `model.safetensors.index.json`.
final class SafetensorsShards: TensorSource {
    let path: String
    let files: [SafetensorsFile]
    private let owner: [String: Int]

    init(path: String, files: [SafetensorsFile]) {
        self.path = path
        self.files = files
        var owner: [String: Int] = [:]
        for (i, f) in files.enumerated() { for t in f.tensors { owner[t.name] = i } }
        self.owner = owner
    }

    var names: [String] { files.flatMap { $0.tensors.map(\.name) } }
    func has(_ name: String) -> Bool { owner[name] != nil }
    func shape(_ name: String) -> [Int]? { owner[name].flatMap { files[$0].info(name)?.shape } }
    func tensor(_ name: String) throws -> Tensor {
        guard let i = owner[name] else { throw ModelError.missingTensor(path: path, tensor: name) }
        return try files[i].tensor(name)
    }
}

/// Builds `Weights` from a tensor source, checking every shape against the config.
struct WeightLoader {
    let source: TensorSource
    let config: ModelConfig
    /// The names read so far: every tensor of the file must be read (or be a
    /// known buffer), so a parameter the family does not use is refused.
    private let used = UsedNames()

    init(source: TensorSource, config: ModelConfig) {
        self.source = source
        self.config = config
    }

    /// Marks a tensor as accounted for without reading it.
    func skip(_ name: String) { used.names.insert(name) }

    func checkAllUsed(_ scheme: NamingScheme) throws {
        for name in source.names where !used.names.contains(name) && !scheme.isBuffer(name) {
            throw ModelError.unexpectedTensor(path: source.path, tensor: printable(name, limit: 200), family: config.family.rawValue)
        }
    }

    func load(_ name: String, _ shape: [Int]) throws -> [Float] {
        used.names.insert(name)
        guard let found = source.shape(name) else { throw ModelError.missingTensor(path: source.path, tensor: name) }
        guard found.reduce(1, *) == shape.reduce(1, *), found.count == shape.count || found.count == 1 || shape.count == 1 else {
            throw ModelError.badTensorShape(path: source.path, tensor: name, expected: shape, found: found)
        }
        if found != shape {
            throw ModelError.badTensorShape(path: source.path, tensor: name, expected: shape, found: found)
        }
        return try source.tensor(name).data
    }

    func optional(_ name: String, _ shape: [Int]) throws -> [Float]? {
        source.has(name) ? try load(name, shape) : nil
    }
}

/// The tensor names a `WeightLoader` has read (loading is single-threaded).
private final class UsedNames {
    var names: Set<String> = []
}

extension WeightLoader {

    /// A weight stored [in, out] (GPT-2's Conv1D), returned as [out, in].
    func loadTransposed(_ name: String, in n: Int, out m: Int) throws -> [Float] {
        transpose(try load(name, [n, m]), rows: n, cols: m)
    }
}

func transpose(_ a: [Float], rows: Int, cols: Int) -> [Float] {
    var out = [Float](repeating: 0, count: a.count)
    for r in 0 ..< rows { for c in 0 ..< cols { out[c * rows + r] = a[r * cols + c] } }
    return out
}

/// Undoes llama.cpp's reordering of q/k rows for rotary embeddings.
///
/// GGUF llama files store each head's rows so that RoPE rotates adjacent
/// pairs (x[2i], x[2i+1]); Hugging Face checkpoints rotate (x[i], x[i+hd/2]).
/// Loupe brings GGUF weights back to the Hugging Face order at load time, so
/// one rotary implementation serves both and `hook_q`/`hook_k` dimensions
/// mean the same thing as in TransformerLens, whatever the file format.
/// `rows` are per-head blocks of `headDim` rows of `width` values each.
func unpermuteRotaryRows(_ w: [Float], heads: Int, headDim: Int, width: Int) -> [Float] {
    var out = w
    let half = headDim / 2
    for h in 0 ..< heads {
        for i in 0 ..< half {
            for j in 0 ..< 2 {
                let from = (h * headDim + 2 * i + j) * width
                let to = (h * headDim + j * half + i) * width
                for c in 0 ..< width { out[to + c] = w[from + c] }
            }
        }
    }
    return out
}
