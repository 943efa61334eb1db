import Foundation

/// A GGUF metadata value (every type of GGUF versions 2 and 3).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double), bool(Bool), string(String)
    case array([GGUFValue])
    /// An array of fixed-size numbers or booleans, kept as the file's bytes
    /// (a `[GGUFValue]` would take 24 bytes per element, 24× a byte
    /// array); `array` unpacks it.
    case packed(GGUFPackedArray)

    public static func == (a: GGUFValue, b: GGUFValue) -> Bool {
        switch (a, b) {
        case let (.uint8(x), .uint8(y)): x == y
        case let (.int8(x), .int8(y)): x == y
        case let (.uint16(x), .uint16(y)): x == y
        case let (.int16(x), .int16(y)): x == y
        case let (.uint32(x), .uint32(y)): x == y
        case let (.int32(x), .int32(y)): x == y
        case let (.uint64(x), .uint64(y)): x == y
        case let (.int64(x), .int64(y)): x == y
        case let (.float32(x), .float32(y)): x == y
        case let (.float64(x), .float64(y)): x == y
        case let (.bool(x), .bool(y)): x == y
        case let (.string(x), .string(y)): x == y
        default:
            if let x = a.array, let y = b.array { x == y } else { false }
        }
    }

    /// The value as an integer, for any integer type.
    public var int: Int? {
        switch self {
        case let .uint8(v): Int(v)
        case let .int8(v): Int(v)
        case let .uint16(v): Int(v)
        case let .int16(v): Int(v)
        case let .uint32(v): Int(v)
        case let .int32(v): Int(v)
        case let .uint64(v): Int(exactly: v)
        case let .int64(v): Int(v)
        default: nil
        }
    }

    /// The value as a floating-point number, for any numeric type.
    public var double: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: int.map(Double.init)
        }
    }

    public var string: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    public var array: [GGUFValue]? {
        switch self {
        case let .array(a): a
        case let .packed(p): p.values
        default: nil
        }
    }

    /// A short rendering for `loupe inspect`: long arrays are summarised.
    public var summary: String {
        switch self {
        case let .string(s): return "\"" + printable(s, limit: 57) + "\""
        case let .array(a):
            let head = a.prefix(4).map(\.summary).joined(separator: ", ")
            return a.count > 4 ? "[\(head), ...] (\(a.count) items)" : "[\(head)]"
        case let .packed(p):
            let head = p.values(prefix: 4).map(\.summary).joined(separator: ", ")
            return p.count > 4 ? "[\(head), ...] (\(p.count) items)" : "[\(head)]"
        case let .bool(b): return String(b)
        case let .float32(v): return String(v)
        case let .float64(v): return String(v)
        default: return int.map(String.init) ?? "?"
        }
    }
}

/// A GGUF array of one fixed-size element type, as the file stores it.
public struct GGUFPackedArray: Sendable, Equatable {
    /// The GGUF value type of the elements (0–7, 10–12).
    public let elementType: UInt32
    public let count: Int
    let bytes: Data

    /// Bytes per element of each fixed-size type, by GGUF type number.
    static func width(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: 1
        case 2, 3: 2
        case 4, 5, 6: 4
        case 10, 11, 12: 8
        default: nil
        }
    }

    public var values: [GGUFValue] { values(prefix: count) }

    func values(prefix n: Int) -> [GGUFValue] {
        let w = Self.width(elementType) ?? 1
        return bytes.withUnsafeBytes { raw in
            (0 ..< min(n, count)).map { i in
                let o = i * w
                switch elementType {
                case 0: return .uint8(raw[o])
                case 1: return .int8(Int8(bitPattern: raw[o]))
                case 2: return .uint16(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
                case 3: return .int16(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: Int16.self)))
                case 4: return .uint32(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                case 5: return .int32(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: Int32.self)))
                case 6: return .float32(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self))))
                case 7: return .bool(raw[o] == 1)
                case 10: return .uint64(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt64.self)))
                case 11: return .int64(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: Int64.self)))
                default: return .float64(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt64.self))))
                }
            }
        }
    }
}

/// One tensor's entry in a GGUF file's table.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// ggml's order: `dims[0]` is the innermost (contiguous) dimension.
    public let dims: [Int]
    public let type: GGMLType
    /// Offset from the start of the data section.
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { dims.reduce(1, *) }
    /// Row-major shape, outermost first (the reverse of `dims`).
    public var shape: [Int] { dims.reversed() }
}

/// A GGUF file (versions 2 and 3, little-endian), memory-mapped.
///
/// Layout: magic "GGUF", u32 version, u64 tensor count, u64 metadata count;
/// the metadata as (string key, u32 type, value); the tensor table as
/// (string name, u32 n_dims, u64 dims[n_dims], u32 type, u64 offset); padding
/// to `general.alignment` (default 32); then the tensor data. Strings are a
/// u64 byte length followed by UTF-8 bytes.
public final class GGUFFile {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let dataOffset: Int
    private let file: MappedFile
    private let index: [String: Int]

    /// Counts above these are taken as corruption rather than attempted.
    private static let maxCount = 1 << 24
    private static let maxDims = 8

    public init(path: String) throws {
        file = try MappedFile(path: path)
        self.path = path
        var r = ByteReader(path: path, bytes: file.bytes)
        let magic = try r.read(UInt32.self, "the 4-byte magic 'GGUF'")
        guard magic == 0x4655_4747 else {
            throw ModelError.unknownFormat(path: path, found: Self.describeStart(file.bytes))
        }
        let versionOffset = r.offset
        version = try r.read(UInt32.self, "the GGUF version")
        guard version == 2 || version == 3 else {
            throw ModelError.corrupt(path: path, offset: versionOffset,
                                     detail: "GGUF version is \(version) but must be 2 or 3")
        }
        let tensorCount = try Self.count(&r, "tensor count")
        let kvCount = try Self.count(&r, "metadata count")

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for i in 0 ..< kvCount {
            let key = try Self.string(&r, "the key of metadata entry \(i)", isName: true)
            let typeOffset = r.offset
            let type = try r.read(UInt32.self, "the value type of '\(shown(key))'")
            metadata[key] = try Self.value(&r, type: type, typeOffset: typeOffset, key: key, depth: 0)
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(tensorCount)
        for i in 0 ..< tensorCount {
            let name = try Self.string(&r, "the name of tensor \(i)", isName: true)
            let nDimsOffset = r.offset
            let nDims = Int(try r.read(UInt32.self, "the dimension count of '\(shown(name))'"))
            guard (1 ... Self.maxDims).contains(nDims) else {
                throw ModelError.corrupt(path: path, offset: nDimsOffset,
                                         detail: "tensor '\(shown(name))' has \(nDims) dimensions but must have 1 to \(Self.maxDims)")
            }
            var dims: [Int] = []
            for d in 0 ..< nDims {
                let dimOffset = r.offset
                let n = try r.read(UInt64.self, "dimension \(d) of '\(shown(name))'")
                guard n > 0, n < 1 << 40 else {
                    throw ModelError.corrupt(path: path, offset: dimOffset, detail: "tensor '\(shown(name))' has dimension \(d) = \(n)")
                }
                dims.append(Int(n))
            }
            let typeOffset = r.offset
            let rawType = try r.read(UInt32.self, "the type of '\(shown(name))'")
            guard let type = GGMLType(rawValue: rawType), let geometry = type.geometry else {
                throw ModelError.unsupportedTensorType(path: path, tensor: name, type: "\(rawType) (at byte \(typeOffset))")
            }
            let offsetAt = r.offset
            let offset = try r.read(UInt64.self, "the data offset of '\(shown(name))'")
            // Sizes from the file are checked before any arithmetic that could overflow:
            // no tensor can hold more bytes than the file has.
            guard offset <= UInt64(file.bytes.count) else {
                throw ModelError.corrupt(path: path, offset: offsetAt,
                                         detail: "tensor '\(shown(name))' starts at data offset \(offset), past the end of the \(file.bytes.count)-byte file")
            }
            var elements = 1
            for n in dims {
                let (product, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow, product <= file.bytes.count.multipliedReportingOverflow(by: 64).partialValue else {
                    throw ModelError.corrupt(path: path, offset: nDimsOffset,
                                             detail: "tensor '\(shown(name))' has dimensions \(dims), more values than a \(file.bytes.count)-byte file can hold")
                }
                elements = product
            }
            guard dims[0] % geometry.blockSize == 0 else {
                throw ModelError.corrupt(path: path, offset: typeOffset,
                                         detail: "tensor '\(shown(name))' of type \(type.name) has a row of \(dims[0]) values, not a multiple of its block size \(geometry.blockSize)")
            }
            infos.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: Int(clamping: offset),
                                        byteCount: elements / geometry.blockSize * geometry.blockBytes))
        }
        tensors = infos

        let alignment = metadata["general.alignment"]?.int ?? 32
        guard alignment > 0, alignment.nonzeroBitCount == 1 else {
            throw ModelError.corrupt(path: path, offset: 0, detail: "general.alignment is \(alignment) but must be a power of two")
        }
        dataOffset = (r.offset + alignment - 1) / alignment * alignment
        for t in infos {
            let start = dataOffset + t.offset
            if start > file.bytes.count || file.bytes.count - start < t.byteCount {
                throw ModelError.truncated(path: path, offset: start,
                                           expected: "\(t.byteCount) bytes of tensor '\(shown(t.name))'")
            }
        }
        var index: [String: Int] = [:]
        for (i, t) in infos.enumerated() { index[t.name] = i }
        self.index = index
    }

    public func info(_ name: String) -> GGUFTensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// The tensor dequantized to Float32, row-major with `info.shape`.
    public func tensor(_ name: String) throws -> Tensor {
        guard let t = info(name) else { throw ModelError.missingTensor(path: path, tensor: name) }
        guard t.type.isSupported else {
            throw ModelError.unsupportedTensorType(path: path, tensor: name, type: t.type.name)
        }
        let start = dataOffset + t.offset
        let raw = UnsafeRawBufferPointer(rebasing: file.bytes[start ..< start + t.byteCount])
        return Tensor(shape: t.shape, data: Dequantize.array(t.type, raw, count: t.elementCount))
    }

    // MARK: - Parsing helpers

    private static func count(_ r: inout ByteReader, _ what: String) throws -> Int {
        let offset = r.offset
        let n = try r.read(UInt64.self, "the \(what)")
        guard n <= UInt64(maxCount) else {
            throw ModelError.corrupt(path: r.path, offset: offset, detail: "\(what) is \(n) but must be in [0, \(maxCount)]")
        }
        return Int(n)
    }

    /// Longest metadata key or tensor name accepted (llama.cpp's names are
    /// at most 64 bytes): a corrupt length cannot turn the file into a name.
    static let maxNameBytes: UInt64 = 1 << 16

    private static func string(_ r: inout ByteReader, _ what: @autoclosure () -> String, isName: Bool = false) throws -> String {
        let offset = r.offset
        let n = try r.read(UInt64.self, "the length of \(what())")
        if isName, n > maxNameBytes {
            throw ModelError.corrupt(path: r.path, offset: offset, detail: "\(what()) is \(n) bytes long; names are at most \(maxNameBytes)")
        }
        guard n <= UInt64(r.bytes.count) else {
            throw ModelError.truncated(path: r.path, offset: offset, expected: "\(what()) of \(n) bytes")
        }
        return try r.readString(count: Int(n), "\(what()) (\(n) bytes)")
    }

    private static func value(_ r: inout ByteReader, type: UInt32, typeOffset: Int, key: String, depth: Int) throws -> GGUFValue {
        let what = "the value of '\(shown(key))'"
        switch type {
        case 0: return .uint8(try r.read(UInt8.self, what))
        case 1: return .int8(try r.read(Int8.self, what))
        case 2: return .uint16(try r.read(UInt16.self, what))
        case 3: return .int16(try r.read(Int16.self, what))
        case 4: return .uint32(try r.read(UInt32.self, what))
        case 5: return .int32(try r.read(Int32.self, what))
        case 6: return .float32(try r.readFloat(what))
        case 7:
            let offset = r.offset
            let b = try r.read(UInt8.self, what)
            guard b <= 1 else {
                throw ModelError.corrupt(path: r.path, offset: offset, detail: "boolean '\(shown(key))' is \(b) but must be 0 or 1")
            }
            return .bool(b == 1)
        case 8: return .string(try string(&r, what))
        case 9:
            guard depth < 4 else {
                throw ModelError.corrupt(path: r.path, offset: typeOffset, detail: "arrays in '\(shown(key))' nest deeper than 4 levels")
            }
            let elementTypeOffset = r.offset
            let elementType = try r.read(UInt32.self, "the element type of '\(shown(key))'")
            let countOffset = r.offset
            let n = try r.read(UInt64.self, "the length of '\(shown(key))'")
            // Every element takes at least one byte, so a longer array cannot fit.
            guard n <= UInt64(r.bytes.count - r.offset) else {
                throw ModelError.truncated(path: r.path, offset: countOffset, expected: "\(n) elements of array '\(shown(key))'")
            }
            if let w = GGUFPackedArray.width(elementType) {
                let (total, overflow) = Int(n).multipliedReportingOverflow(by: w)
                guard !overflow, total <= r.bytes.count - r.offset else {
                    throw ModelError.truncated(path: r.path, offset: countOffset, expected: "\(n) elements of array '\(shown(key))'")
                }
                let start = r.offset
                let raw = try r.readBytes(total, "the elements of '\(shown(key))'")
                if elementType == 7, let bad = raw.firstIndex(where: { $0 > 1 }) {
                    throw ModelError.corrupt(path: r.path, offset: start + bad, detail: "boolean array '\(shown(key))' holds \(raw[bad]) but must hold 0 or 1")
                }
                return .packed(GGUFPackedArray(elementType: elementType, count: Int(n), bytes: Data(raw)))
            }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(n))
            for _ in 0 ..< Int(n) {
                items.append(try value(&r, type: elementType, typeOffset: elementTypeOffset, key: key, depth: depth + 1))
            }
            return .array(items)
        case 10: return .uint64(try r.read(UInt64.self, what))
        case 11: return .int64(try r.read(Int64.self, what))
        case 12: return .float64(try r.readDouble(what))
        default:
            throw ModelError.corrupt(path: r.path, offset: typeOffset, detail: "metadata '\(shown(key))' has value type \(type) but must be in [0, 12]")
        }
    }

    /// The first bytes of a file, printable, for "is neither GGUF nor safetensors" messages.
    static func describeStart(_ bytes: UnsafeRawBufferPointer) -> String {
        if bytes.isEmpty { return "nothing: the file is empty" }
        let head = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        return "bytes \(head)"
    }
}
