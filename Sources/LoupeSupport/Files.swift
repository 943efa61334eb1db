#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// A file Loupe was asked to read or write that it cannot use: missing, a
/// folder, a device, a FIFO, unreadable, a full disk. Its description is one
/// line naming the path and the reason.
public struct FileProblem: Error, Equatable, CustomStringConvertible, LocalizedError {
    public enum Access: Sendable, Equatable { case read, write }
    public let path: String
    public let access: Access
    public let reason: String

    public init(_ path: String, _ access: Access, _ reason: String) {
        self.path = path; self.access = access; self.reason = reason
    }

    public var description: String { "cannot \(access == .read ? "read" : "write") '\(printable(path, limit: 300))': \(reason)" }
    public var errorDescription: String? { description }
}

/// What a path names, following symbolic links.
public enum PathKind: Equatable, Sendable {
    case missing, regular, directory
    /// A device, FIFO or socket: reading may block forever, and writing
    /// must never replace it with a regular file.
    case special(String)

    public init(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { self = .missing; return }
        switch info.st_mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .special("a FIFO (named pipe)")
        case S_IFCHR: self = .special("a character device")
        case S_IFBLK: self = .special("a block device")
        case S_IFSOCK: self = .special("a socket")
        default: self = .special("not a regular file")
        }
    }
}

/// Reading input files: only regular files, with one clear reason otherwise.
public enum InputFile {
    /// Why `path` cannot be read as a regular file, or nil when it can.
    public static func problem(_ path: String) -> FileProblem? {
        switch PathKind(path) {
        case .missing: return FileProblem(path, .read, "no such file")
        case .directory: return FileProblem(path, .read, "it is a folder, not a file")
        case let .special(what): return FileProblem(path, .read, "it is \(what), not a regular file")
        case .regular: return access(path, R_OK) == 0 ? nil : FileProblem(path, .read, "permission denied")
        }
    }

    /// The whole file.
    public static func read(_ path: String) throws(FileProblem) -> Data {
        if let problem = problem(path) { throw problem }
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FileProblem(path, .read, (error as NSError).localizedFailureReason ?? "\(error.localizedDescription)")
        }
    }

    /// The whole file as UTF-8 text (invalid bytes become U+FFFD).
    public static func text(_ path: String) throws(FileProblem) -> String {
        String(decoding: try read(path), as: UTF8.self)
    }
}

/// A set of output files written together: each is written to a temporary
/// name in its folder, and only when every one has been written are they
/// renamed into place. A failure before `commit` leaves every existing file
/// as it was, and the temporary files are removed (also on SIGINT and
/// SIGTERM, see `TemporaryFiles`).
///
/// The renames are not one atomic step: if one of them fails, the files
/// already renamed are restored from hard links made beforehand.
public final class FileTransaction {
    private var staged: [(temporary: String, target: String)] = []
    private var committed = false

    public init() {}

    deinit { if !committed { rollBack() } }

    /// Checks that `path` can be written: its folder exists and is writable,
    /// and what is there now, if anything, is a regular file.
    @discardableResult
    public static func checkTarget(_ path: String) throws(FileProblem) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        let folder = parent.isEmpty ? "." : parent
        guard PathKind(folder) == .directory else {
            throw FileProblem(path, .write, PathKind(folder) == .missing ? "the folder '\(printable(folder, limit: 300))' does not exist"
                                                                         : "'\(printable(folder, limit: 300))' is not a folder")
        }
        switch PathKind(path) {
        case .missing, .regular: break
        case .directory: throw FileProblem(path, .write, "it is a folder")
        case let .special(what): throw FileProblem(path, .write, "it is \(what); Loupe writes only regular files")
        }
        guard access(folder, W_OK) == 0 else {
            throw FileProblem(path, .write, "the folder '\(printable(folder, limit: 300))' is not writable")
        }
        return folder
    }

    /// Stages `path`: `write` fills the temporary file whose path it is given.
    public func stage(_ path: String, _ write: (String) throws -> Void) throws {
        let folder = try Self.checkTarget(path)
        let temporary = folder + "/." + (path as NSString).lastPathComponent + ".partial.\(getpid()).\(UInt32.random(in: 0 ... .max))"
        TemporaryFiles.add(temporary)
        staged.append((temporary, path))
        try write(temporary)
    }

    /// Stages `data` as the contents of `path`.
    public func stage(_ data: Data, to path: String) throws {
        try stage(path) { temporary in try Self.writeAll(data, to: temporary, reporting: path) }
    }

    /// Renames every staged file into place.
    public func commit() throws {
        precondition(!committed, "a transaction is committed once")
        // Keep what is there now under a second name, so that a failed
        // rename part way can put the earlier files back.
        var backups: [String?] = []
        defer { for case let b? in backups { unlink(b); TemporaryFiles.remove(b) } }
        for s in staged {
            let backup = s.temporary + ".old"
            if PathKind(s.target) == .regular, link(s.target, backup) == 0 {
                TemporaryFiles.add(backup)
                backups.append(backup)
            } else {
                backups.append(nil)
            }
        }
        for (k, s) in staged.enumerated() where rename(s.temporary, s.target) != 0 {
            let reason = String(cString: strerror(errno))
            for j in 0 ..< k {
                if let b = backups[j] { rename(b, staged[j].target) } else { unlink(staged[j].target) }
            }
            throw FileProblem(s.target, .write, reason)
        }
        for s in staged { TemporaryFiles.remove(s.temporary) }
        committed = true
    }

    private func rollBack() {
        for s in staged {
            unlink(s.temporary)
            TemporaryFiles.remove(s.temporary)
        }
        staged = []
    }

    /// Writes `data` to a new file at `temporary`, reporting problems as
    /// problems with `target`; a full disk is named as one.
    static func writeAll(_ data: Data, to temporary: String, reporting target: String) throws(FileProblem) {
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileProblem(target, .write, reason(errno, target)) }
        defer { close(fd) }
        let failure: Int32? = data.withUnsafeBytes { raw -> Int32? in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue }; return errno }
                offset += n
            }
            return nil
        }
        if let failure { throw FileProblem(target, .write, reason(failure, target)) }
    }

    /// A write error in words: a full disk and a read-only file system say so.
    public static func reason(_ code: Int32, _ target: String) -> String {
        let parent = (target as NSString).deletingLastPathComponent
        let folder = printable(parent.isEmpty ? "." : parent, limit: 300)
        switch code {
        case ENOSPC: return "no space left on the device holding '\(folder)' (the disk is full)"
        case EDQUOT: return "the disk quota for '\(folder)' is used up"
        case EROFS: return "'\(folder)' is on a read-only file system"
        case EACCES, EPERM: return "the folder '\(folder)' is not writable"
        default: return String(cString: strerror(code))
        }
    }
}

/// Writing one file so that a reader never sees half of it.
public enum AtomicFile {
    /// Writes `data` to a temporary file in the target's folder and renames it
    /// into place; on any failure the temporary file is removed and an
    /// existing file at `path` is left untouched.
    public static func write(_ data: Data, to path: String) throws {
        let t = FileTransaction()
        try t.stage(data, to: path)
        try t.commit()
    }
}

/// The temporary files of unfinished writes, removed if the process is
/// interrupted (SIGINT, SIGTERM, SIGHUP) before they are renamed into place.
///
/// The list is a fixed table of C strings so that the signal handler does
/// nothing but `unlink` and re-raise, both safe in a handler.
public enum TemporaryFiles {
    private static let capacity = 4096
    nonisolated(unsafe) private static let slots: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let p = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: capacity)
        p.initialize(repeating: nil, count: capacity)
        return p
    }()
    /// Held while the table changes (the signal handler only reads it).
    private static let lock = Mutex(())

    static func add(_ path: String) {
        lock.withLock { _ in
            for i in 0 ..< capacity where slots[i] == nil {
                slots[i] = strdup(path)
                return
            }
        }
    }

    static func remove(_ path: String) {
        lock.withLock { _ in
            for i in 0 ..< capacity {
                if let p = slots[i], strcmp(p, path) == 0 {
                    slots[i] = nil
                    free(p)
                    return
                }
            }
        }
    }

    /// The temporary files not yet renamed or removed (for tests).
    public static var pending: [String] {
        lock.withLock { _ in (0 ..< capacity).compactMap { slots[$0].map { String(cString: $0) } } }
    }

    /// Installs the handlers: on SIGINT, SIGTERM or SIGHUP every pending
    /// temporary file is removed, then the signal ends the process as it
    /// would have without the handler.
    /// A signal the process was started with ignored (`nohup`, a test
    /// runner's SIGINT) stays ignored; one it was started with blocked (as
    /// some parents leave their children) is unblocked, so that it can end
    /// the process.
    public static func removeOnSignals() {
        // The table is made now, not lazily on first use: a handler that ran
        // its initialiser would allocate inside the signal, and deadlock on
        // the allocator's lock when the signal came in the middle of a malloc.
        _ = slots.pointee
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            var current = sigaction()
            guard sigaction(sig, nil, &current) == 0 else { continue }
            let ignored = unsafeBitCast(SIG_IGN, to: Int.self)
            if unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == ignored { continue }
            signal(sig) { sig in
                for i in 0 ..< TemporaryFiles.capacity {
                    if let p = TemporaryFiles.slots[i] { unlink(p) }
                }
                signal(sig, SIG_DFL)
                raise(sig)
            }
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, sig)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
        }
    }
}

/// Text from a file made safe for one terminal line: control characters,
/// escapes and bidirectional overrides shown as \u{…}, cut to about
/// `limit` characters of output.
public func printable(_ s: String, limit: Int) -> String {
    var out = ""
    var count = 0
    for scalar in s.unicodeScalars {
        if count >= limit { out += "…"; break }
        let v = scalar.value
        if v < 0x20 || (0x7F ..< 0xA0).contains(v) || (0x200E ... 0x200F).contains(v) || (0x202A ... 0x202E).contains(v)
            || (0x2066 ... 0x2069).contains(v) {
            let escape = "\\u{\(String(v, radix: 16))}"
            out += escape
            count += escape.count      // the limit is on what is printed
        } else {
            out.unicodeScalars.append(scalar)
            count += 1
        }
    }
    return out
}
