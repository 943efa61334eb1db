import Foundation
@testable import LoupeModel
import Testing

/// The GGUF reader and every dequantizer, against values from the `gguf`
/// Python package (Fixtures/make_gguf_fixtures.py).
@Suite struct GGUFTests {
    static let quantized = ["f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"]

    @Test(arguments: ["quants.gguf", "quants_v2.gguf"])
    func readsEveryMetadataType(file: String) throws {
        let gguf = try GGUFFile(path: Fixtures.root + "/" + file)
        #expect(gguf.version == (file == "quants.gguf" ? 3 : 2))
        let md = gguf.metadata
        #expect(md["general.architecture"] == .string("test"))
        #expect(md["test.u8"] == .uint8(200))
        #expect(md["test.i8"] == .int8(-100))
        #expect(md["test.u16"] == .uint16(60000))
        #expect(md["test.i16"] == .int16(-30000))
        #expect(md["test.u32"] == .uint32(4_000_000_000))
        #expect(md["test.i32"] == .int32(-2_000_000_000))
        #expect(md["test.u64"] == .uint64(18_446_744_073_709_551_000))
        #expect(md["test.i64"] == .int64(-9_000_000_000_000_000_000))
        #expect(md["test.f32"] == .float32(-1.25))
        #expect(md["test.f64"] == .float64(Double.pi))
        #expect(md["test.bool"] == .bool(true))
        #expect(md["test.str"] == .string("héllo, Loupe ✓"))
        #expect(md["test.arr_i32"] == .array([.int32(1), .int32(-2), .int32(3), .int32(Int32.max), .int32(Int32.min)]))
        #expect(md["test.arr_str"] == .array([.string("alpha"), .string(""), .string("βeta")]))
        #expect(md["test.arr_arr"] == .array([.array([.int32(1), .int32(2)]), .array([.int32(3)]), .array([.int32(4), .int32(5), .int32(6)])]))
        #expect(gguf.tensors.count == 21)
        #expect(gguf.info("q4_k")?.shape == [2, 512])
        #expect(gguf.info("q4_k")?.type == .q4_K)
    }

    /// Dequantized values agree with the gguf package's to 1 ulp-scale: both
    /// compute d·q (+ m) in float32, but the order of the products may differ.
    @Test(arguments: quantized)
    func dequantizesLikeTheReference(name: String) throws {
        let gguf = try GGUFFile(path: Fixtures.root + "/quants.gguf")
        let actual = try gguf.tensor(name)
        let expected = try gguf.tensor(name + ".expected")
        #expect(actual.shape == [2, 512])
        let bad = worstViolation(actual.data, expected.data, atol: 1e-7, rtol: 1e-6)
        #expect(bad == nil, "\(name): value \(bad?.index ?? 0) is \(bad?.actual ?? 0), expected \(bad?.expected ?? 0)")
    }

    @Test func halfFloatConversions() {
        #expect(floatFromHalf(0x3C00) == 1)
        #expect(floatFromHalf(0xC000) == -2)
        #expect(floatFromHalf(0x0001) == Float(5.960_464_5e-8)) // smallest subnormal
        #expect(floatFromHalf(0x7BFF) == 65504)
        #expect(floatFromHalf(0x7C00) == .infinity)
        #expect(floatFromHalf(0x7E00).isNaN)
        #expect(floatFromHalf(0x8000) == 0 && floatFromHalf(0x8000).sign == .minus)
        #expect(floatFromBFloat16(0x3F80) == 1)
    }

    /// Cutting the file anywhere gives an error naming the file and an offset, never a crash.
    @Test func truncatedFilesAreErrors() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.root + "/quants.gguf"))
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/cut.gguf"
        var cuts = Array(stride(from: 0, to: 1700, by: 7)) + [data.count - 1, data.count - 300, 20_000]
        cuts.removeAll { $0 >= data.count }
        for cut in cuts {
            try data.prefix(cut).write(to: URL(fileURLWithPath: path))
            do {
                _ = try GGUFFile(path: path)
                Issue.record("a file cut at \(cut) of \(data.count) bytes was accepted")
            } catch let error as ModelError {
                switch error {
                case .truncated, .unknownFormat, .corrupt: #expect(error.description.contains(path))
                default: Issue.record("cut at \(cut): unexpected error \(error)")
                }
            }
        }
    }

    @Test func badMagicAndVersion() throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.root + "/quants.gguf"))
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/bad.gguf"
        data[4] = 9
        try data.write(to: URL(fileURLWithPath: path))
        #expect(throws: ModelError.corrupt(path: path, offset: 4, detail: "GGUF version is 9 but must be 2 or 3")) {
            try GGUFFile(path: path)
        }
        data[0] = UInt8(ascii: "X")
        try data.write(to: URL(fileURLWithPath: path))
        #expect { try GGUFFile(path: path) } throws: { ($0 as? ModelError)?.description.contains("neither GGUF nor safetensors") == true }
    }

    /// A tensor type Loupe cannot dequantize is named in the error.
    @Test func unsupportedTensorType() throws {
        let gguf = try GGUFFile(path: Fixtures.tiny + "/tiny-llama/tiny-llama-f32.gguf")
        let first = try #require(gguf.tensors.first)
        var data = try Data(contentsOf: URL(fileURLWithPath: gguf.path))
        // The type field follows the name, n_dims and dims of the first tensor entry.
        let nameBytes = Data(first.name.utf8)
        let at = try #require(data.range(of: nameBytes)).upperBound + 4 + 8 * first.dims.count
        data[at] = 16 // IQ2_XXS
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/iq.gguf"
        try data.write(to: URL(fileURLWithPath: path))
        #expect { try GGUFFile(path: path) } throws: {
            ($0 as? ModelError)?.description.contains("tensor '\(first.name)' has type 16") == true
        }
    }
}
