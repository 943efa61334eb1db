import Foundation
import LoupeModel
import Testing

@Suite struct SafetensorsTests {
    /// A safetensors file assembled byte by byte, as another writer would.
    func handMade(_ header: String, _ payload: [UInt8]) -> Data {
        var data = Data()
        let h = Data(header.utf8)
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(h)
        data.append(contentsOf: payload)
        return data
    }

    @Test func readsHalfAndBFloat16() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // F16 [1.0, -2.0] = 0x3C00, 0xC000; BF16 [1.0, 0.5] = 0x3F80, 0x3F00 (little-endian).
        let header = #"{"__metadata__":{"format":"pt"},"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[4,8]}}"#
        let path = folder + "/half.safetensors"
        try handMade(header, [0x00, 0x3C, 0x00, 0xC0, 0x80, 0x3F, 0x00, 0x3F]).write(to: URL(fileURLWithPath: path))
        let file = try SafetensorsFile(path: path)
        #expect(file.metadata == ["format": "pt"])
        #expect(try file.tensor("h") == Tensor(shape: [2], data: [1, -2]))
        #expect(try file.tensor("b") == Tensor(shape: [1, 2], data: [1, 0.5]))
    }

    @Test func writerRoundTrip() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var writer = SafetensorsWriter()
        writer.add("a.b", Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]))
        writer.add("ids", shape: [3], int32: [7, -8, 9])
        writer.metadata = ["prompt": "héllo"]
        let path = folder + "/out.safetensors"
        try writer.write(to: path)
        let file = try SafetensorsFile(path: path)
        #expect(try file.tensor("a.b").data == [1, 2, 3, 4, 5, 6])
        #expect(try file.int32s("ids") == [7, -8, 9])
        #expect(file.metadata["prompt"] == "héllo")
        // No temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["out.safetensors"])
    }

    @Test func inconsistentHeadersAreErrors() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/bad.safetensors"
        // Shape [3] of F32 needs 12 bytes, the offsets give 8.
        try handMade(#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, Array(repeating: 0, count: 8))
            .write(to: URL(fileURLWithPath: path))
        #expect { try SafetensorsFile(path: path) } throws: { "\($0)".contains("needs 12 bytes but has 8") }
        // Offsets past the end of the file.
        try handMade(#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, Array(repeating: 0, count: 8))
            .write(to: URL(fileURLWithPath: path))
        #expect { try SafetensorsFile(path: path) } throws: { "\($0)".contains("is truncated or corrupt") }
        // A header length larger than the file.
        var data = handMade(#"{}"#, [])
        data[0] = 200
        try data.write(to: URL(fileURLWithPath: path))
        #expect { try SafetensorsFile(path: path) } throws: { "\($0)".contains("expected a JSON header of 200 bytes") }
    }

    @Test func atomicWriteRefusesMissingFolder() throws {
        #expect(throws: FileProblem("/nonexistent/x.safetensors", .write, "the folder '/nonexistent' does not exist")) {
            try SafetensorsWriter().write(to: "/nonexistent/x.safetensors")
        }
    }
}
