import CBLAS
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The BLAS library, opened at run time rather than linked.
///
/// OpenBLAS picks its kernels from the CPU model when it is loaded, and
/// releases up to 0.3.21 (Debian 12's) do not know recent Xeons: on a
/// Sapphire or Emerald Rapids machine they fall back to the 2004 "Prescott"
/// kernels, three times slower than the AVX-512 ones. Loading the library
/// ourselves lets Loupe name the kernel family from the CPU's feature flags
/// (through `OPENBLAS_CORETYPE`, which OpenBLAS reads when it loads) unless
/// the user has set it. If no OpenBLAS can be opened, a plain Swift matrix
/// product keeps every result correct, only slower.
enum BLAS {
    typealias SGEMM = @convention(c) (
        CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32,
        Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
        Float, UnsafeMutablePointer<Float>?, Int32) -> Void

    struct Library: Sendable {
        let sgemm: SGEMM?
        let setThreads: (@convention(c) (Int32) -> Void)?
        let getThreads: (@convention(c) () -> Int32)?
        /// "OpenBLAS 0.3.21, SkylakeX kernels", or why the fallback is in use.
        let description: String
    }

    static let library: Library = open()

    private static func open() -> Library {
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, let core = kernelFamily() {
            setenv("OPENBLAS_CORETYPE", core, 0)
        }
        let candidates = ["libopenblas.so.0", "libopenblas.so", "libopenblasp-r0.3.21.so", "libopenblas.dylib"]
        for name in candidates {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL),
                  let symbol = dlsym(handle, "cblas_sgemm") else { continue }
            var text = "OpenBLAS"
            if let config = dlsym(handle, "openblas_get_config") {
                let f = unsafeBitCast(config, to: (@convention(c) () -> UnsafePointer<CChar>?).self)
                if let s = f() { text = String(cString: s) }
            }
            if let core = dlsym(handle, "openblas_get_corename") {
                let f = unsafeBitCast(core, to: (@convention(c) () -> UnsafePointer<CChar>?).self)
                if let s = f() { text += ", \(String(cString: s)) kernels" }
            }
            let threads = dlsym(handle, "openblas_set_num_threads").map { unsafeBitCast($0, to: (@convention(c) (Int32) -> Void).self) }
            let current = dlsym(handle, "openblas_get_num_threads").map { unsafeBitCast($0, to: (@convention(c) () -> Int32).self) }
            return Library(sgemm: unsafeBitCast(symbol, to: SGEMM.self), setThreads: threads, getThreads: current, description: text)
        }
        return Library(sgemm: nil, setThreads: nil, getThreads: nil, description: "no OpenBLAS found (install libopenblas0); using a slow built-in matrix product")
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

    /// C [m, n] = alpha · op(A) · op(B) + beta · C, row-major.
    @inline(__always)
    static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if let f = library.sgemm {
            f(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
              Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        } else {
            fallbackSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    static func fallbackSgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
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
    /// Sets the number of threads OpenBLAS uses for each product. Callers
    /// that run several forward passes at once give each a share of the
    /// cores: OpenBLAS's threads spin while they wait, so two products with
    /// a thread per core each are much slower than two with one thread.
    public static func set(_ n: Int) {
        BLAS.library.setThreads?(Int32(max(1, n)))
    }

    /// The threads each product may use now (1 without OpenBLAS).
    static var current: Int { Int(BLAS.library.getThreads?() ?? 1) }

    /// Runs `body(i)` for i in 0..<n on as many threads as the products
    /// may use: for the work between products (softmax, activations),
    /// which OpenBLAS would otherwise idle through. It never changes how the
    /// products themselves are threaded, so results do not depend on what
    /// else runs at the time; with one thread (a gallery's concurrent
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
