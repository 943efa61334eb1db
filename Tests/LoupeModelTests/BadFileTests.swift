import Foundation
@testable import LoupeModel
import Testing

/// Sizes read from files are checked before any arithmetic or allocation:
/// each reproducer gives one clean error, never a trap. (Reproducers from a
/// probe of bad inputs; each was a crash or a 16 GB allocation before.)
@Suite struct BadFileTests {
    static let gguf = Fixtures.tiny + "/tiny-llama/tiny-llama-f32.gguf"

    /// Writes `data` to a temporary file and returns the error loading it gives.
    func error(loading data: Data, name: String, as load: (String) throws -> Void) throws -> ModelError? {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/" + name
        try data.write(to: URL(fileURLWithPath: path))
        do { try load(path) } catch let e as ModelError { return e }
        return nil
    }

    /// Byte position just after the first tensor's name, in its table entry.
    func firstTensorEntry(_ data: Data) throws -> (at: Int, dims: Int) {
        let first = try #require(try GGUFFile(path: Self.gguf).tensors.first)
        return (try #require(data.range(of: Data(first.name.utf8))).upperBound, first.dims.count)
    }

    @Test func ggufDataOffsetNearTwoToTheSixtyFour() throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: Self.gguf))
        let (at, dims) = try firstTensorEntry(data)
        let offsetField = at + 4 + 8 * dims + 4
        for i in 0 ..< 8 { data[offsetField + i] = 0xFF }
        let e = try error(loading: data, name: "offset.gguf") { _ = try GGUFFile(path: $0) }
        #expect(e?.description.contains("past the end of the") == true, "\(String(describing: e))")
    }

    @Test func ggufElementCountOverflow() throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: Self.gguf))
        let (at, dims) = try firstTensorEntry(data)
        #expect(dims == 2)
        // Both dimensions 2^39: 2^78 values.
        for d in 0 ..< 2 {
            let field = at + 4 + 8 * d
            for i in 0 ..< 8 { data[field + i] = 0 }
            data[field + 4] = 0x80
        }
        let e = try error(loading: data, name: "dims.gguf") { _ = try GGUFFile(path: $0) }
        #expect(e?.description.contains("more values than a") == true, "\(String(describing: e))")
    }

    func safetensors(header: String, data: Int = 16) -> Data {
        var bytes = Data()
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header.utf8)
        bytes.append(Data(count: data))
        return bytes
    }

    @Test func safetensorsShapeOverflowAndHugeUnusedTensors() throws {
        for shape in ["[4611686018427387904, 4]", "[4294967296, 4294967296]", "[-1, 4]"] {
            let header = #"{"w": {"dtype": "F32", "shape": \#(shape), "data_offsets": [0, 16]}}"#
            let e = try error(loading: safetensors(header: header), name: "w.safetensors") { _ = try SafetensorsFile(path: $0) }
            let words = shape.hasPrefix("[-") ? "a negative dimension" : "more values than the file"
            #expect(e?.description.contains(words) == true, "\(shape): \(String(describing: e))")
            let unknownType = #"{"w": {"dtype": "I4", "shape": \#(shape), "data_offsets": [0, 16]}}"#
            let e2 = try error(loading: safetensors(header: unknownType), name: "w.safetensors") { _ = try SafetensorsFile(path: $0) }
            #expect(e2 != nil, "\(shape) with an unknown type was accepted")
        }
    }

    @Test func brokenSafetensorsHeaderIsCorruptNotAnotherFormat() throws {
        let e = try error(loading: safetensors(header: #"{"w": {"dtype": "F32", "#), name: "b.safetensors") { _ = try SafetensorsFile(path: $0) }
        #expect(e?.description.contains("is not a valid JSON object") == true, "\(String(describing: e))")
    }

    /// tokenizer.json ids that would size the vocabulary (2^63 − 1 traps, 10^9 allocates 16 GB).
    @Test(arguments: ["9223372036854775807", "1000000000", "-5"])
    func tokenizerIdsOutOfRange(id: String) throws {
        let e = try tokenizerJSONError(Fixtures.tiny + "/tokenizer/tokenizer.json") { json in
            var model = try #require(json["model"] as? [String: Any])
            var vocab = try #require(model["vocab"] as? [String: Any])
            vocab["zzz"] = Int(id)!
            model["vocab"] = vocab
            json["model"] = model
        }
        #expect(e?.description.contains("'zzz' has id \(id), outside 0 to") == true, "\(String(describing: e))")
    }

    @Test func mergesGivenAsAString() throws {
        let e = try tokenizerJSONError(Fixtures.tiny + "/tokenizer/tokenizer.json") { json in
            var model = try #require(json["model"] as? [String: Any])
            model["merges"] = "a b"
            json["model"] = model
        }
        #expect(e?.description.contains("model.merges must be a list") == true, "\(String(describing: e))")
    }

    /// Config sizes that divided by zero or overflowed.
    @Test(arguments: [
        ("llama3-rope", "num_attention_heads", 0, "num_attention_heads"),
        ("llama3-rope", "hidden_size", 1 << 62, "the model width"),
        ("llama3-rope", "head_dim", 1 << 61, "the head size"),
        ("llama3-rope", "hidden_size", 0, "the model width"),
        ("tiny-gpt2", "n_embd", 1 << 61, "the model width"),
        ("tiny-gpt2", "n_head", 0, "n_head"),
    ])
    func configSizes(family: String, field: String, value: Int, words: String) throws {
        let text = try ConfigRefusalTests().message(family) { $0[field] = value }
        #expect(text?.contains(words) == true, "\(field) = \(value): \(text ?? "loaded")")
    }
}
