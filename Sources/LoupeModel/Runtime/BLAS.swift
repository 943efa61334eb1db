import CBLAS
import Foundation
import LoupeSupport
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The matrix-product library, opened at run time rather than linked.
///
/// `LOUPE_BLAS` names it: `openblas` (the default), `blis`, `mkl`,
/// `onednn`, `builtin`, or the path of a library file holding one of
/// `cblas_sgemm`, `scipy_cblas_sgemm64_` (the OpenBLAS inside numpy's
/// wheel) or `dnnl_sgemm`. A library that was asked for and cannot be
/// opened is an error (`BLAS.check()`), never replaced by another. Unset,
/// Loupe takes Debian's OpenBLAS, else BLIS, else a plain Swift product that
/// keeps every result correct, only slower; `loupe bench blas` measures
/// every library it can open on the machine at the shapes Loupe runs.
///
/// OpenBLAS picks its kernels from the CPU model when it is loaded, and
/// releases up to 0.3.21 (Debian 12's) do not know recent Xeons: on a
/// Sapphire or Emerald Rapids machine they fall back to the 2004 "Prescott"
/// kernels, three times slower than the AVX-512 ones. Loading the library
/// ourselves lets Loupe name the kernel family from the CPU's feature flags
/// (through `OPENBLAS_CORETYPE`, which OpenBLAS reads when it loads) unless
/// the user has set it.
enum BLAS {
    typealias CBLAS32 = @convention(c) (
        CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32,
        Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
        Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    /// The same with 64-bit sizes (an "ILP64" build); the enums stay C ints.
    typealias CBLAS64 = @convention(c) (
        CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int64, Int64, Int64,
        Float, UnsafePointer<Float>?, Int64, UnsafePointer<Float>?, Int64,
        Float, UnsafeMutablePointer<Float>?, Int64) -> Void
    /// oneDNN's row-major product; it returns a status, 0 for success.
    typealias DNNL = @convention(c) (
        CChar, CChar, Int64, Int64, Int64,
        Float, UnsafePointer<Float>?, Int64, UnsafePointer<Float>?, Int64,
        Float, UnsafeMutablePointer<Float>?, Int64) -> Int32

    enum Product: Sendable {
        case cblas(CBLAS32)
        case cblas64(CBLAS64)
        /// oneDNN, and OpenMP's per-thread setting of its thread count.
        case dnnl(DNNL, (@convention(c) (Int32) -> Void)?)
        case builtin
    }

    /// One opened library.
    struct Library: Sendable {
        /// What `LOUPE_BLAS` calls it ("openblas", "blis", ...), or the file's path.
        let name: String
        /// Which library it is: "openblas", "numpy-openblas", "blis", "mkl", "onednn", or "cblas".
        let kind: String
        let product: Product
        /// "OpenBLAS 0.3.21 ..., Haswell kernels", "BLIS 0.9.0", ...
        let description: String
        fileprivate let setThreads: @Sendable (Int) -> Void
        fileprivate let getThreads: @Sendable () -> Int

        /// C [m, n] = alpha · op(A) · op(B) + beta · C, row-major.
        @inline(__always)
        func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                   a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                   beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
            switch product {
            case let .cblas(f):
                f(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                  Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            case let .cblas64(f):
                f(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                  Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
            case let .dnnl(f, ompThreads):
                // OpenMP keeps the thread count per calling thread: set it
                // on whichever thread calls, from the process-wide choice.
                ompThreads?(Int32(BLAS.dnnlThreads.load(ordering: .relaxed)))
                let status = f(transA ? 84 : 78, transB ? 84 : 78, Int64(m), Int64(n), Int64(k), alpha,
                               a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
                // Only invalid arguments fail, and Loupe's are checked: a bug.
                precondition(status == 0, "oneDNN's sgemm failed with status \(status) on \(m)×\(n)×\(k)")
            case .builtin:
                BLAS.builtinSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                                  b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            }
        }

        func set(threads: Int) { setThreads(max(1, threads)) }
        var threads: Int { max(1, getThreads()) }
    }

    /// Why the library `LOUPE_BLAS` names cannot be used.
    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    /// The names `LOUPE_BLAS` takes, besides a path.
    static let names = ["openblas", "blis", "mkl", "onednn", "builtin"]

    static let loaded: Result<Library, LoadError> = Result {
        try open(ProcessInfo.processInfo.environment["LOUPE_BLAS"])
    }.mapError { $0 as! LoadError }

    /// The library in use. `check()` has reported a library that failed to
    /// open before any model exists, so reaching the failure here is a bug.
    static var library: Library {
        switch loaded {
        case let .success(library): return library
        case let .failure(error): preconditionFailure("\(error)")
        }
    }

    /// Throws if `LOUPE_BLAS` names a library that cannot be used.
    static func check() throws(LoadError) {
        if case let .failure(error) = loaded { throw error }
    }

    /// Threads for oneDNN, which OpenMP keeps per thread.
    fileprivate static let dnnlThreads = Atomic<Int>(ProcessInfo.processInfo.activeProcessorCount)

    /// Opens the library `request` names (nil or "" or "auto": the default).
    static func open(_ request: String?) throws(LoadError) -> Library {
        let request = request?.trimmingCharacters(in: .whitespaces) ?? ""
        switch request {
        case "", "auto":
            if let library = try? open("openblas") { return library }
            if let library = try? open("blis") { return library }
            return builtin(because: "no OpenBLAS or BLIS found (install libopenblas0); using a slow built-in matrix product")
        case "builtin":
            return builtin(because: "the built-in matrix product (LOUPE_BLAS=builtin): correct, and far slower than a BLAS")
        case "openblas":
            return try first(["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"], name: request, install: "libopenblas0")
        case "blis":
            return try first(["libblis.so.4", "libblis.so", "libblis.dylib"], name: request, install: "libblis4-pthread")
        case "mkl":
            return try first(["libmkl_rt.so.2", "libmkl_rt.so.3", "libmkl_rt.so"], name: request,
                             install: "the mkl wheel, and set LOUPE_BLAS to its lib/libmkl_rt.so.* path")
        case "onednn":
            return try first(["libdnnl.so.3", "libdnnl.so.2", "libdnnl.so"], name: request, install: "libdnnl2")
        default:
            guard request.contains("/") else {
                throw LoadError(description: "LOUPE_BLAS='\(printable(request, limit: 200))' is not a library Loupe knows: "
                    + "give one of \(names.joined(separator: ", ")), or the path of a library file")
            }
            guard FileManager.default.fileExists(atPath: request) else {
                throw LoadError(description: "LOUPE_BLAS='\(printable(request, limit: 200))': no such file")
            }
            return try first([request], name: request, install: nil)
        }
    }

    private static func builtin(because reason: String) -> Library {
        Library(name: "builtin", kind: "builtin", product: .builtin, description: reason, setThreads: { _ in }, getThreads: { 1 })
    }

    private static func first(_ files: [String], name: String, install: String?) throws(LoadError) -> Library {
        var reasons: [String] = []
        for file in files {
            if file.contains("mkl_rt") { prepareMKL() }
            if file.contains("openblas"), ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
               let core = kernelFamily() {
                setenv("OPENBLAS_CORETYPE", core, 0)
            }
            guard let handle = dlopen(file, RTLD_NOW | RTLD_LOCAL) else {
                reasons.append(dlerror().map { String(cString: $0) } ?? "\(file): cannot be opened")
                continue
            }
            if let library = bind(handle, name: name) { return library }
            reasons.append("\(file) has none of cblas_sgemm, scipy_cblas_sgemm64_, dnnl_sgemm")
            dlclose(handle)
        }
        let hint = install.map { " (install \($0))" } ?? ""
        throw LoadError(description: "LOUPE_BLAS=\(printable(name, limit: 200)): cannot open the library\(hint): "
            + printable(reasons.last ?? "", limit: 300))
    }

    /// MKL's single runtime library loads Intel's OpenMP unless told
    /// otherwise; the GNU one is what a Debian machine has.
    private static func prepareMKL() {
        guard ProcessInfo.processInfo.environment["MKL_THREADING_LAYER"] == nil else { return }
        setenv("MKL_THREADING_LAYER", "GNU", 0)
        _ = dlopen("libgomp.so.1", RTLD_NOW | RTLD_GLOBAL)
    }

    private static func function<T>(_ handle: UnsafeMutableRawPointer, _ symbol: String, as type: T.Type) -> T? {
        dlsym(handle, symbol).map { unsafeBitCast($0, to: type) }
    }

    private static func cString(_ handle: UnsafeMutableRawPointer, _ symbol: String) -> String? {
        guard let f = function(handle, symbol, as: (@convention(c) () -> UnsafePointer<CChar>?).self), let s = f()
        else { return nil }
        return String(cString: s)
    }

    /// The library in `handle`, told apart by the symbols it exports.
    private static func bind(_ handle: UnsafeMutableRawPointer, name: String) -> Library? {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if let f = function(handle, "scipy_cblas_sgemm64_", as: CBLAS64.self) {
            // numpy's OpenBLAS: every symbol prefixed scipy_ and suffixed 64_.
            let set = function(handle, "scipy_openblas_set_num_threads64_", as: (@convention(c) (Int32) -> Void).self)
            let get = function(handle, "scipy_openblas_get_num_threads64_", as: (@convention(c) () -> Int32).self)
            var text = cString(handle, "scipy_openblas_get_config64_") ?? "OpenBLAS (numpy's)"
            if let core = cString(handle, "scipy_openblas_get_corename64_") { text += ", \(core) kernels" }
            return Library(name: name, kind: "numpy-openblas", product: .cblas64(f), description: text,
                           setThreads: { set?(Int32($0)) }, getThreads: { Int(get?() ?? 1) })
        }
        if let f = function(handle, "dnnl_sgemm", as: DNNL.self) {
            let gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_LOCAL)
            let ompSet = gomp.flatMap { function($0, "omp_set_num_threads", as: (@convention(c) (Int32) -> Void).self) }
            var text = "oneDNN"
            if let version = function(handle, "dnnl_version", as: (@convention(c) () -> UnsafeRawPointer?).self), let v = version() {
                // dnnl_version_t begins with three ints: major, minor, patch.
                text += " \(v.load(as: Int32.self)).\(v.load(fromByteOffset: 4, as: Int32.self)).\(v.load(fromByteOffset: 8, as: Int32.self))"
            }
            return Library(name: name, kind: "onednn", product: .dnnl(f, ompSet), description: text,
                           setThreads: { dnnlThreads.store($0, ordering: .relaxed) },
                           getThreads: { dnnlThreads.load(ordering: .relaxed) })
        }
        guard let f = function(handle, "cblas_sgemm", as: CBLAS32.self) else { return nil }
        if let config = cString(handle, "openblas_get_config") {
            var text = config
            if let core = cString(handle, "openblas_get_corename") { text += ", \(core) kernels" }
            let set = function(handle, "openblas_set_num_threads", as: (@convention(c) (Int32) -> Void).self)
            let get = function(handle, "openblas_get_num_threads", as: (@convention(c) () -> Int32).self)
            return Library(name: name, kind: "openblas", product: .cblas(f), description: text,
                           setThreads: { set?(Int32($0)) }, getThreads: { Int(get?() ?? 1) })
        }
        if let version = cString(handle, "bli_info_get_version_str") {
            let set = function(handle, "bli_thread_set_num_threads", as: (@convention(c) (Int64) -> Void).self)
            let get = function(handle, "bli_thread_get_num_threads", as: (@convention(c) () -> Int64).self)
            // BLIS runs on one thread unless told otherwise.
            let env = ProcessInfo.processInfo.environment
            if env["BLIS_NUM_THREADS"] == nil, env["OMP_NUM_THREADS"] == nil { set?(Int64(cores)) }
            return Library(name: name, kind: "blis", product: .cblas(f), description: "BLIS \(version)",
                           setThreads: { set?(Int64($0)) }, getThreads: { Int(get?() ?? 1) })
        }
        if let mklVersion = function(handle, "MKL_Get_Version_String", as: (@convention(c) (UnsafeMutablePointer<CChar>?, Int32) -> Void).self) {
            var buffer = [CChar](repeating: 0, count: 256)
            mklVersion(&buffer, Int32(buffer.count))
            let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.trimmingCharacters(in: .whitespaces)
            let set = function(handle, "MKL_Set_Num_Threads", as: (@convention(c) (Int32) -> Void).self)
            let get = function(handle, "MKL_Get_Max_Threads", as: (@convention(c) () -> Int32).self)
            return Library(name: name, kind: "mkl", product: .cblas(f), description: text.isEmpty ? "Intel MKL" : text,
                           setThreads: { set?(Int32($0)) }, getThreads: { Int(get?() ?? 1) })
        }
        // Some other CBLAS: its threads are its own business.
        return Library(name: name, kind: "cblas", product: .cblas(f), description: "the CBLAS in \(name) (its threads not controlled by Loupe)",
                       setThreads: { _ in }, getThreads: { 1 })
    }

    /// OpenBLAS's name for the widest kernels this CPU runs, from /proc/cpuinfo.
    private static func kernelFamily() -> String? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return nil }
        let flags = Set(line.split(separator: " ").map(String.init))
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// C [m, n] = alpha · op(A) · op(B) + beta · C, row-major, with the library in use.
    @inline(__always)
    static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        library.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                      b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    static func builtinSgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                             a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0 ..< m {
            for j in 0 ..< n {
                var s: Float = 0
                for p in 0 ..< k {
                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += x * y
                }
                c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
    }
}

/// How many threads each matrix product may use.
public enum MatrixThreads {
    /// Sets the number of threads the library uses for each product.
    /// Callers that run several forward passes at once give each a share of
    /// the cores: OpenBLAS's threads spin while they wait, so two products
    /// with a thread per core each are much slower than two with one thread.
    public static func set(_ n: Int) {
        BLAS.library.set(threads: n)
    }

    /// The threads each product may use now (1 for the built-in product).
    static var current: Int { BLAS.library.threads }

    /// Runs `body(i)` for i in 0..<n on as many threads as the products
    /// may use: for the work between products (softmax, activations),
    /// which the library would otherwise idle through. It never changes how
    /// the products themselves are threaded, so results do not depend on
    /// what else runs at the time; with one thread (a gallery's concurrent
    /// passes share the cores that way) it runs in order.
    static func parallel(_ n: Int, _ body: (Int) -> Void) {
        let width = min(current, n)
        guard width > 1 else {
            for i in 0 ..< n { body(i) }
            return
        }
        // Each call of body touches only its own part of the output.
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: width) { w in
            for i in stride(from: w, to: n, by: width) { body(i) }
        }
    }
}
