import Foundation

extension Model {
    /// The floating-point operations of the matrix products of a forward
    /// pass over sequences of these lengths (a multiply and an add count
    /// two), to `lastBlock` (nil: every block and the unembedding).
    /// Attention counts what is needed: each query against the keys it sees
    /// (the causal triangle, cut by a window), for scores and for values.
    /// Norms, activations and softmax are left out: they are a few percent.
    public func forwardFLOPs(lengths: [Int], lastBlock: Int? = nil) -> Double {
        let c = config
        let d = Double(c.dModel), m = Double(c.dMLP), qDim = Double(c.heads * c.headDim), kvDim = Double(c.kvHeads * c.headDim)
        let blocks = min(lastBlock ?? c.layers - 1, c.layers - 1) + 1
        let perToken = 2 * d * (qDim + 2 * kvDim) + 2 * qDim * d + 2 * d * m * (c.gatedMLP ? 3 : 2)
        let tokens = Double(lengths.reduce(0, +))
        var flops = tokens * perToken * Double(blocks)
        for l in 0 ..< blocks {
            for t in lengths {
                // Keys seen by each query, summed over queries.
                let seen = (0 ..< t).reduce(0) { $0 + ($1 - firstKey($1, window: c.slidingWindows[l]) + 1) }
                flops += 2 * 2 * Double(c.heads * c.headDim) * Double(seen)
            }
        }
        if lastBlock == nil || lastBlock! >= c.layers - 1 { flops += tokens * 2 * d * Double(c.vocabularySize) }
        return flops
    }
}

/// The speed of the matrix product Loupe uses, measured.
public enum MatrixProduct {
    /// What the products run on ("OpenBLAS 0.3.21 ..., Haswell kernels").
    public static var library: String { BLAS.library.description }

    /// GFLOP/s of an n × n × n single-precision product with the library in use.
    public static func gflops(size n: Int = 2048, repeats: Int = 5) -> Double {
        MatrixLibrary(BLAS.library).gflops(m: n, n: n, k: n, transB: false, repeats: repeats)
    }
}

/// A matrix-product library, opened to be measured against the others.
public struct MatrixLibrary: Sendable {
    let library: BLAS.Library
    init(_ library: BLAS.Library) { self.library = library }

    /// The name `LOUPE_BLAS` takes for it (or its path).
    public var name: String { library.name }
    /// Which library it is: "openblas", "numpy-openblas", "blis", "mkl", "onednn", or "cblas".
    public var kind: String { library.kind }
    /// Its version and kernels, as it reports them.
    public var description: String { library.description }

    /// Every library `LOUPE_BLAS` can name except the built-in product,
    /// then the library files at `paths`: those that open, and why each
    /// other did not.
    public static func available(paths: [String] = []) -> (opened: [MatrixLibrary], failed: [(name: String, reason: String)]) {
        var opened: [MatrixLibrary] = [], failed: [(String, String)] = []
        for request in BLAS.names.filter({ $0 != "builtin" }) + paths {
            do { opened.append(MatrixLibrary(try BLAS.open(request))) } catch { failed.append((request, error.description)) }
        }
        return (opened, failed)
    }

    /// The largest difference between this library's products and the
    /// built-in one's, over small products in every transpose with padded
    /// rows, relative to the largest value: a binding with its arguments in
    /// the wrong order is off by about 1, a correct one by about 1e-7.
    public func discrepancy() -> Double {
        var worst = 0.0
        let (m, n, k, pad) = (37, 23, 53, 3)
        for (transA, transB) in [(false, false), (false, true), (true, false), (true, true)] {
            let lda = (transA ? m : k) + pad, ldb = (transB ? k : n) + pad, ldc = n + pad
            let a = (0 ..< (transA ? k : m) * lda).map { Float(sin(Double($0) * 0.37)) }
            let b = (0 ..< (transB ? n : k) * ldb).map { Float(cos(Double($0) * 0.23)) }
            let start = (0 ..< m * ldc).map { Float($0 % 7) / 7 }
            var mine = start, reference = start
            library.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb,
                          beta: 0.25, c: &mine, ldc: ldc)
            BLAS.builtinSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb,
                              beta: 0.25, c: &reference, ldc: ldc)
            let scale = reference.map { abs(Double($0)) }.max()!
            for i in mine.indices { worst = max(worst, abs(Double(mine[i]) - Double(reference[i])) / scale) }
        }
        return worst
    }

    /// GFLOP/s of C [m, n] = A [m, k] · op(B), B stored [n, k] when
    /// `transB` (as Loupe stores weights): the best of `repeats` timings
    /// of enough products to take about 20 ms each, after one to warm up,
    /// since a peak is what the machine can do, and other work on it only
    /// ever slows a run.
    public func gflops(m: Int, n: Int, k: Int, transB: Bool, repeats: Int = 5) -> Double {
        let a = (0 ..< m * k).map { Float(($0 * 7919) % 1000) / 1000 }
        let b = (0 ..< n * k).map { Float(($0 * 104_729) % 1000) / 1000 }
        var c = [Float](repeating: 0, count: m * n)
        let flops = 2 * Double(m) * Double(n) * Double(k)
        let calls = max(1, Int(3e9 / flops))
        var best = Double.infinity
        for run in 0 ... max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0 ..< (run == 0 ? 1 : calls) {
                library.sgemm(transA: false, transB: transB, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b,
                              ldb: transB ? k : n, beta: 0, c: &c, ldc: n)
            }
            if run > 0 { best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(calls)) }
        }
        return flops / best / 1e9
    }
}
