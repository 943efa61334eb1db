import Foundation

/// The element types of safetensors files that Loupe reads or writes.
public enum SafetensorsDType: String, Sendable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i32 = "I32", i64 = "I64"

    var byteWidth: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .i64: 8
        }
    }
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsTensorInfo: Sendable {
    public let name: String
    public let dtype: String
    public let shape: [Int]
    /// Byte range within the data section.
    public let begin: Int
    public let end: Int
}

/// A safetensors file, memory-mapped.
///
/// Layout: u64 header length N, N bytes of JSON mapping each tensor name to
/// `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to
/// the byte after the header) plus an optional `"__metadata__"` of strings;
/// then the data.
public final class SafetensorsFile {
    public let path: String
    public let metadata: [String: String]
    public let tensors: [SafetensorsTensorInfo]
    private let file: MappedFile
    private let dataOffset: Int
    private let index: [String: Int]

    public init(path: String) throws {
        file = try MappedFile(path: path)
        self.path = path
        guard file.bytes.count >= 8 else {
            throw ModelError.unknownFormat(path: path, found: GGUFFile.describeStart(file.bytes))
        }
        var r = ByteReader(path: path, bytes: file.bytes)
        let headerLength = try r.read(UInt64.self, "the 8-byte safetensors header length")
        guard headerLength >= 2, headerLength < 100_000_000 else {
            throw ModelError.unknownFormat(path: path, found: GGUFFile.describeStart(file.bytes))
        }
        let headerBytes = try r.readBytes(Int(headerLength), "a JSON header of \(headerLength) bytes")
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw ModelError.unknownFormat(path: path, found: GGUFFile.describeStart(file.bytes))
        }
        // It starts as a safetensors header does: a broken one is corrupt, not another format.
        guard let json = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
            throw ModelError.corrupt(path: path, offset: 8, detail: "the \(headerLength)-byte safetensors header is not a valid JSON object")
        }
        dataOffset = r.offset
        let dataSize = file.bytes.count - dataOffset

        var metadata: [String: String] = [:]
        var infos: [SafetensorsTensorInfo] = []
        for (name, entry) in json.sorted(by: { $0.key < $1.key }) {
            if name == "__metadata__" {
                for (k, v) in entry as? [String: Any] ?? [:] { metadata[k] = "\(v)" }
                continue
            }
            guard let fields = entry as? [String: Any],
                  let dtype = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int],
                  let offsets = fields["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw ModelError.corrupt(path: path, offset: 8, detail: "header entry '\(shown(name))' lacks dtype, shape or data_offsets")
            }
            // Element counts are checked before they are multiplied out: a
            // tensor cannot hold more values than its bytes can (8 per byte,
            // for any type down to one bit).
            var count = 1
            for n in shape {
                guard n >= 0 else {
                    throw ModelError.corrupt(path: path, offset: 8, detail: "tensor '\(printable(name, limit: 200))' has shape \(shape), with a negative dimension")
                }
                let (product, overflow) = count.multipliedReportingOverflow(by: n)
                guard !overflow, product <= max(dataSize, 1).multipliedReportingOverflow(by: 8).partialValue else {
                    throw ModelError.corrupt(path: path, offset: 8,
                                             detail: "tensor '\(printable(name, limit: 200))' has shape \(shape), more values than the file's \(dataSize) data bytes can hold")
                }
                count = product
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end else {
                throw ModelError.corrupt(path: path, offset: 8, detail: "tensor '\(shown(name))' has data offsets [\(begin), \(end)]")
            }
            guard end <= dataSize else {
                throw ModelError.truncated(path: path, offset: dataOffset + begin,
                                           expected: "\(end - begin) bytes of tensor '\(shown(name))'")
            }
            if let known = SafetensorsDType(rawValue: dtype) {
                let expected = count * known.byteWidth
                guard expected == end - begin else {
                    throw ModelError.corrupt(path: path, offset: dataOffset + begin,
                                             detail: "tensor '\(shown(name))' of shape \(shape) and type \(dtype) needs \(expected) bytes but has \(end - begin)")
                }
            }
            infos.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }
        self.metadata = metadata
        tensors = infos
        var index: [String: Int] = [:]
        for (i, t) in infos.enumerated() { index[t.name] = i }
        self.index = index
    }

    public func info(_ name: String) -> SafetensorsTensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// The tensor converted to Float32 (from F32, F16 or BF16).
    public func tensor(_ name: String) throws -> Tensor {
        guard let t = info(name) else { throw ModelError.missingTensor(path: path, tensor: name) }
        let raw = UnsafeRawBufferPointer(rebasing: file.bytes[dataOffset + t.begin ..< dataOffset + t.end])
        let count = t.shape.reduce(1, *)
        let type: GGMLType
        switch SafetensorsDType(rawValue: t.dtype) {
        case .f32: type = .f32
        case .f16: type = .f16
        case .bf16: type = .bf16
        default: throw ModelError.unsupportedTensorType(path: path, tensor: name, type: t.dtype)
        }
        return Tensor(shape: t.shape, data: Dequantize.array(type, raw, count: count))
    }

    /// The raw int32 values of an I32 tensor.
    public func int32s(_ name: String) throws -> [Int32] {
        guard let t = info(name) else { throw ModelError.missingTensor(path: path, tensor: name) }
        guard t.dtype == "I32" else { throw ModelError.unsupportedTensorType(path: path, tensor: name, type: t.dtype) }
        return (0 ..< (t.end - t.begin) / 4).map {
            Int32(littleEndian: file.bytes.loadUnaligned(fromByteOffset: dataOffset + t.begin + 4 * $0, as: Int32.self))
        }
    }
}

/// Writes safetensors files: Float32 and Int32 tensors plus string metadata.
public struct SafetensorsWriter {
    private enum Payload {
        case floats([Float])
        case ints([Int32])
    }

    private var entries: [(name: String, shape: [Int], payload: Payload)] = []
    public var metadata: [String: String] = [:]

    public init() {}

    public mutating func add(_ name: String, _ tensor: Tensor) {
        entries.append((name, tensor.shape, .floats(tensor.data)))
    }

    public mutating func add(_ name: String, shape: [Int], int32 values: [Int32]) {
        precondition(shape.reduce(1, *) == values.count)
        entries.append((name, shape, .ints(values)))
    }

    /// The file's bytes: header padded with spaces to a multiple of 8 so the
    /// data section is aligned, as the reference implementation does.
    public func encoded() throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for e in entries {
            let (dtype, size): (String, Int)
            switch e.payload {
            case let .floats(v): (dtype, size) = ("F32", v.count * 4)
            case let .ints(v): (dtype, size) = ("I32", v.count * 4)
            }
            header[e.name] = ["dtype": dtype, "shape": e.shape, "data_offsets": [offset, offset + size]]
            offset += size
        }
        var headerData = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while headerData.count % 8 != 0 { headerData.append(UInt8(ascii: " ")) }
        var out = Data()
        out.reserveCapacity(8 + headerData.count + offset)
        withUnsafeBytes(of: UInt64(headerData.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(headerData)
        for e in entries {
            switch e.payload {
            case let .floats(v): v.withUnsafeBytes { out.append(contentsOf: $0) }
            case let .ints(v): v.withUnsafeBytes { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    /// Writes the file atomically: to a temporary file beside it, then renamed.
    public func write(to path: String) throws {
        try AtomicFile.write(try encoded(), to: path)
    }
}
