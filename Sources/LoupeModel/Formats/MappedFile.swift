@_exported import LoupeSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A read-only memory map of a whole file, unmapped when released.
///
/// Model files are mapped rather than read so that loading touches only the
/// pages of the tensors actually used, and so the kernel can drop them again
/// once the weights are dequantized.
final class MappedFile {
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws {
        self.path = path
        switch PathKind(path) {
        case .missing: throw ModelError.fileNotFound(path: path)
        case .directory: throw ModelError.unreadable(path: path, reason: "it is a folder, not a file")
        case let .special(what): throw ModelError.unreadable(path: path, reason: "it is \(what), not a regular file")
        case .regular: break
        }
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else {
            throw ModelError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ModelError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        let size = Int(info.st_size)
        if size == 0 {
            // mmap refuses empty files; an empty buffer reads as truncated everywhere.
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw ModelError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }
}

/// A cursor over little-endian binary data in which every read is bounds
/// checked and a short read names the file, the offset and what was expected.
struct ByteReader {
    let path: String
    let bytes: UnsafeRawBufferPointer
    var offset: Int

    init(path: String, bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.path = path
        self.bytes = bytes
        self.offset = offset
    }

    /// Makes sure `count` bytes are available at the cursor.
    func require(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count >= 0, offset <= bytes.count, bytes.count - offset >= count else {
            throw ModelError.truncated(path: path, offset: offset, expected: what())
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try require(MemoryLayout<T>.size, what())
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    mutating func readFloat(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readDouble(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// Reads `count` raw bytes.
    mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try require(count, what())
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + count])
        offset += count
        return slice
    }

    /// Reads a UTF-8 string of `count` bytes. Invalid UTF-8 is repaired rather
    /// than rejected: vocabularies legitimately hold partial byte sequences.
    mutating func readString(count: Int, _ what: @autoclosure () -> String) throws -> String {
        let raw = try readBytes(count, what())
        return String(decoding: raw, as: UTF8.self)
    }
}
