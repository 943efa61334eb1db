import Foundation

// The operations of the transformer, on raw row-major buffers, each
// followed by its backward pass. Shapes are written [rows, cols]; T is the
// number of positions.
//
// A backward takes the gradient of the output (dy) and what the forward
// saw, and returns or accumulates the gradient of the input. Only input
// gradients are computed: Loupe differentiates with respect to
// activations, never weights.

/// y [T, out] = x [T, in] · wᵀ (w is [out, in]) + bias, through BLAS.
/// With `accumulate`, adds to y instead of overwriting it.
@inline(__always)
func linear(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
            _ y: UnsafeMutablePointer<Float>, rows t: Int, in n: Int, out m: Int, accumulate: Bool = false) {
    BLAS.sgemm(transA: false, transB: true, m: t, n: m, k: n, alpha: 1, a: x, lda: n, b: w, ldb: n,
               beta: accumulate ? 1 : 0, c: y, ldc: m)
    if let bias {
        for r in 0 ..< t {
            let row = y + r * m
            for j in 0 ..< m { row[j] += bias[j] }
        }
    }
}

/// Backward of `linear`: dx [T, in] (+)= dy [T, out] · w [out, in].
func linearBackward(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                    rows t: Int, in n: Int, out m: Int, accumulate: Bool = false) {
    BLAS.sgemm(transA: false, transB: false, m: t, n: n, k: m, alpha: 1, a: dy, lda: m, b: w, ldb: n,
               beta: accumulate ? 1 : 0, c: dx, ldc: n)
}

/// RMSNorm: y = x / sqrt(mean(x²) + eps) · w, per row of x [T, d].
/// Sums in Float64: the residual norm of a massive-activation position
/// (~25 000 in SmolLM2's dimension 507) squared loses digits in Float32.
func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
             rows t: Int, dim d: Int, eps: Float) {
    for r in 0 ..< t {
        let xr = x + r * d, yr = y + r * d
        var ss: Double = 0
        for j in 0 ..< d { ss += Double(xr[j]) * Double(xr[j]) }
        let inv = Float(1 / (ss / Double(d) + Double(eps)).squareRoot())
        for j in 0 ..< d { yr[j] = xr[j] * inv * w[j] }
    }
}

/// Backward of `rmsNorm`, accumulated into dx. With g = dy ⊙ w and
/// r = 1 / sqrt(mean(x²) + eps): dx = r·g − x·r³·Σ(g ⊙ x) / d.
func rmsNormBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                     _ dx: UnsafeMutablePointer<Float>, rows t: Int, dim d: Int, eps: Float) {
    for r in 0 ..< t {
        let xr = x + r * d, dyr = dy + r * d, dxr = dx + r * d
        var ss: Double = 0, dot: Double = 0
        for j in 0 ..< d {
            ss += Double(xr[j]) * Double(xr[j])
            dot += Double(dyr[j]) * Double(w[j]) * Double(xr[j])
        }
        let inv = 1 / (ss / Double(d) + Double(eps)).squareRoot()
        let k = Float(inv * inv * inv * dot / Double(d)), invF = Float(inv)
        for j in 0 ..< d { dxr[j] += invF * dyr[j] * w[j] - xr[j] * k }
    }
}

/// LayerNorm: y = (x − mean) / sqrt(var + eps) · w + b, biased variance, per row.
func layerNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
               _ y: UnsafeMutablePointer<Float>, rows t: Int, dim d: Int, eps: Float) {
    for r in 0 ..< t {
        let xr = x + r * d, yr = y + r * d
        let (mean, inv) = moments(xr, dim: d, eps: eps)
        let meanF = Float(mean), invF = Float(inv)
        for j in 0 ..< d { yr[j] = (xr[j] - meanF) * invF * w[j] + b[j] }
    }
}

/// Mean and 1 / sqrt(biased variance + eps) of one row, in Float64.
@inline(__always)
private func moments(_ x: UnsafePointer<Float>, dim d: Int, eps: Float) -> (mean: Double, inverseStd: Double) {
    var sum: Double = 0
    for j in 0 ..< d { sum += Double(x[j]) }
    let mean = sum / Double(d)
    var ss: Double = 0
    for j in 0 ..< d { let c = Double(x[j]) - mean; ss += c * c }
    return (mean, 1 / (ss / Double(d) + Double(eps)).squareRoot())
}

/// Backward of `layerNorm`, accumulated into dx. With x̂ = (x − μ)·r and
/// g = dy ⊙ w: dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂)).
func layerNormBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                       _ dx: UnsafeMutablePointer<Float>, rows t: Int, dim d: Int, eps: Float) {
    for r in 0 ..< t {
        let xr = x + r * d, dyr = dy + r * d, dxr = dx + r * d
        let (mean, inv) = moments(xr, dim: d, eps: eps)
        var gMean: Double = 0, gxMean: Double = 0
        for j in 0 ..< d {
            let g = Double(dyr[j]) * Double(w[j])
            gMean += g
            gxMean += g * (Double(xr[j]) - mean) * inv
        }
        gMean /= Double(d); gxMean /= Double(d)
        for j in 0 ..< d {
            let xhat = (Double(xr[j]) - mean) * inv
            dxr[j] += Float(inv * (Double(dyr[j]) * Double(w[j]) - gMean - xhat * gxMean))
        }
    }
}

/// The inverse frequencies of the rotated pairs, θ^(−2i/rotDim), rescaled
/// as the configuration says. Computed in Float64 from Float32 inverse
/// frequencies, as PyTorch keeps them.
func rotaryInverseFrequencies(_ c: ModelConfig) -> [Double] {
    let dims = c.ropeDimensions, half = dims / 2
    var inv = (0 ..< half).map { i in Double(Float(1 / pow(Double(c.ropeTheta), Double(2 * i) / Double(dims)))) }
    switch c.ropeScaling {
    case nil:
        break
    case let .linear(factor):
        inv = inv.map { $0 / factor }
    case let .llama3(factor, low, high, original):
        // Wavelengths shorter than original/high keep their frequency, longer
        // than original/low are divided by the factor, and in between the two
        // are blended by where the wavelength falls.
        let lowWavelength = Double(original) / low, highWavelength = Double(original) / high
        inv = inv.map { f in
            let wavelength = 2 * Double.pi / f
            if wavelength < highWavelength { return f }
            if wavelength > lowWavelength { return f / factor }
            let smooth = (Double(original) / wavelength - low) / (high - low)
            return (1 - smooth) * f / factor + smooth * f
        }
    case let .frequencyFactors(divisors):
        for i in 0 ..< min(half, divisors.count) { inv[i] /= divisors[i] }
    }
    return inv
}

/// Rotary tables for positions 0..<T: cos and sin [T, rotDim/2] of pos · inverse frequency.
/// Angles in Float64, rounded once, so long positions keep their precision.
func rotaryTables(positions t: Int, config: ModelConfig) -> (cos: [Float], sin: [Float]) {
    let inv = rotaryInverseFrequencies(config)
    let half = inv.count
    var c = [Float](repeating: 0, count: t * half), s = c
    for p in 0 ..< t {
        for i in 0 ..< half {
            let angle = Double(p) * inv[i]
            c[p * half + i] = Float(Foundation.cos(angle))
            s[p * half + i] = Float(Foundation.sin(angle))
        }
    }
    return (c, s)
}

/// Rotary position embedding in place, Hugging Face ("rotate half") layout:
/// within each head of x [T, heads, hd], dimension i pairs with i + rotDim/2.
/// Dimensions from rotDim to hd pass through.
func applyRotary(_ x: UnsafeMutablePointer<Float>, rows t: Int, heads: Int, headDim hd: Int,
                 rotaryDims: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    rotate(x, rows: t, heads: heads, headDim: hd, rotaryDims: rotaryDims, cos: cos, sin: sin, sign: 1)
}

/// Turns each (i, i + rotDim/2) pair by +angle (sign 1) or −angle (sign −1).
private func rotate(_ x: UnsafeMutablePointer<Float>, rows t: Int, heads: Int, headDim hd: Int,
                    rotaryDims: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, sign: Float) {
    let half = rotaryDims / 2
    for p in 0 ..< t {
        let cp = cos + p * half, sp = sin + p * half
        for h in 0 ..< heads {
            let v = x + (p * heads + h) * hd
            for i in 0 ..< half {
                let a = v[i], b = v[i + half], s = sign * sp[i]
                v[i] = a * cp[i] - b * s
                v[i + half] = b * cp[i] + a * s
            }
        }
    }
}

/// Backward of `applyRotary`, in place: the transpose of a rotation is the
/// rotation by the opposite angle.
func applyRotaryBackward(_ dx: UnsafeMutablePointer<Float>, rows t: Int, heads: Int, headDim hd: Int,
                         rotaryDims: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    rotate(dx, rows: t, heads: heads, headDim: hd, rotaryDims: rotaryDims, cos: cos, sin: sin, sign: -1)
}

/// Causal multi-head attention with grouped key/value heads.
/// q [T, H, hd], k and v [T, Hkv, hd] → z [T, H, hd], and the pattern
/// [H, T, T] (post-softmax, zeros above the diagonal and outside the window)
/// when `pattern` is given. Query head h reads KV head h / (H / Hkv).
/// Scores are q·k·`scale`, then cap·tanh(s / cap) with a `softcap`; with a
/// `window`, query i sees keys i − window + 1 … i.
///
/// Queries go in blocks of `attentionBlock` rows, each scored against only
/// the keys it can see (from the block's first visible key to its last
/// query), so nothing above the diagonal or before the window is computed,
/// and the scores need H × `attentionBlock` × T floats of scratch, not
/// H × T². The softmax of a block's heads runs on every core the products
/// may use, between the products.
func causalAttention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                     pattern: UnsafeMutablePointer<Float>?, z: UnsafeMutablePointer<Float>,
                     rows t: Int, heads: Int, kvHeads: Int, headDim hd: Int,
                     scale: Float, softcap cap: Float?, window: Int?) {
    let group = heads / kvHeads
    let qStride = heads * hd, kvStride = kvHeads * hd
    let block = min(t, attentionBlock)
    var scores = [Float](repeating: 0, count: heads * block * t)
    scores.withUnsafeMutableBufferPointer { buffer in
        let all = buffer.baseAddress!
        for i0 in stride(from: 0, to: t, by: block) {
            let i1 = min(t, i0 + block), rows = i1 - i0
            let lo = firstKey(i0, window: window), width = i1 - lo
            // scores_h [rows, width] = q_h[i0..<i1] · k_g[lo..<i1]ᵀ · scale
            for h in 0 ..< heads {
                BLAS.sgemm(transA: false, transB: true, m: rows, n: width, k: hd, alpha: scale,
                           a: q + i0 * qStride + h * hd, lda: qStride, b: k + lo * kvStride + h / group * hd, ldb: kvStride,
                           beta: 0, c: all + h * rows * width, ldc: width)
            }
            // Softmax between the products, every head at once.
            MatrixThreads.parallel(heads) { h in
                let s = all + h * rows * width
                if let cap { softcap(s, count: rows * width, cap) }
                for r in 0 ..< rows {
                    let i = i0 + r, row = s + r * width
                    let first = firstKey(i, window: window) - lo, last = i - lo
                    for j in 0 ..< first { row[j] = 0 }
                    softmax(row + first, count: last - first + 1)
                    for j in (last + 1) ..< width { row[j] = 0 }
                }
                if let pattern {
                    for r in 0 ..< rows {
                        let out = pattern + (h * t + i0 + r) * t
                        for j in 0 ..< lo { out[j] = 0 }
                        for j in 0 ..< width { out[lo + j] = s[r * width + j] }
                        for j in i1 ..< t { out[j] = 0 }
                    }
                }
            }
            // z_h[i0..<i1] = scores_h · v_g[lo..<i1]
            for h in 0 ..< heads {
                BLAS.sgemm(transA: false, transB: false, m: rows, n: hd, k: width, alpha: 1,
                           a: all + h * rows * width, lda: width, b: v + lo * kvStride + h / group * hd, ldb: kvStride,
                           beta: 0, c: z + i0 * qStride + h * hd, ldc: qStride)
            }
        }
    }
}

/// Query rows attention scores at once: big enough for the products to run
/// near their peak, small enough that the scores of a long prompt stay a
/// few megabytes.
let attentionBlock = 256

/// x ← softmax(x), in place, over `n` values.
@inline(__always)
func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    var m = -Float.infinity
    for j in 0 ..< n { m = max(m, x[j]) }
    var sum: Float = 0
    for j in 0 ..< n { let e = expf(x[j] - m); x[j] = e; sum += e }
    let inv = 1 / sum
    for j in 0 ..< n { x[j] *= inv }
}

/// The first key query `i` sees.
@inline(__always) func firstKey(_ i: Int, window: Int?) -> Int {
    guard let window else { return 0 }
    return max(0, i - window + 1)
}

/// Backward of `causalAttention`. Given dz [T, H, hd] and the forward's
/// q, k, v (after rotary) and pattern, writes dq [T, H, hd], dk and dv
/// [T, Hkv, hd], and the pattern's gradient dPattern [H, T, T] (for hooks).
/// Per head: dP = dz·vᵀ; dv += Pᵀ·dz; dS = P ⊙ (dP − rowsum(dP ⊙ P));
/// dq = scale·dS·k; dk += scale·dSᵀ·q. With a soft cap, dS is multiplied
/// by 1 − tanh²(s / cap), the derivative of the cap at the raw scores s
/// (recomputed from q and k). Positions outside the window have P = 0, so
/// their dS is 0 without further masking.
func causalAttentionBackward(dz: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                             v: UnsafePointer<Float>, pattern: UnsafePointer<Float>,
                             dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                             dPattern: UnsafeMutablePointer<Float>, rows t: Int, heads: Int, kvHeads: Int, headDim hd: Int,
                             scale: Float, softcap cap: Float?) {
    let group = heads / kvHeads
    var rawScores = cap == nil ? [] : [Float](repeating: 0, count: t * t)
    let qStride = heads * hd, kvStride = kvHeads * hd
    for i in 0 ..< t * kvStride { dk[i] = 0; dv[i] = 0 }
    for h in 0 ..< heads {
        let g = h / group
        let p = pattern + h * t * t, dp = dPattern + h * t * t
        BLAS.sgemm(transA: false, transB: true, m: t, n: t, k: hd, alpha: 1,
                   a: dz + h * hd, lda: qStride, b: v + g * hd, ldb: kvStride, beta: 0, c: dp, ldc: t)
        BLAS.sgemm(transA: true, transB: false, m: t, n: hd, k: t, alpha: 1,
                   a: p, lda: t, b: dz + h * hd, ldb: qStride, beta: 1, c: dv + g * hd, ldc: kvStride)
        // dS in a scratch copy: dPattern keeps dP for the hook.
        var ds = [Float](repeating: 0, count: t * t)
        for i in 0 ..< t {
            var dot: Float = 0
            for j in 0 ... i { dot += dp[i * t + j] * p[i * t + j] }
            for j in 0 ... i { ds[i * t + j] = p[i * t + j] * (dp[i * t + j] - dot) }
        }
        if let cap {
            BLAS.sgemm(transA: false, transB: true, m: t, n: t, k: hd, alpha: scale,
                       a: q + h * hd, lda: qStride, b: k + g * hd, ldb: kvStride, beta: 0, c: &rawScores, ldc: t)
            for i in 0 ..< t * t {
                let th = tanhf(rawScores[i] / cap)
                ds[i] *= 1 - th * th
            }
        }
        BLAS.sgemm(transA: false, transB: false, m: t, n: hd, k: t, alpha: scale,
                   a: ds, lda: t, b: k + g * hd, ldb: kvStride, beta: 0, c: dq + h * hd, ldc: qStride)
        BLAS.sgemm(transA: true, transB: false, m: t, n: hd, k: t, alpha: scale,
                   a: ds, lda: t, b: q + h * hd, ldb: qStride, beta: 1, c: dk + g * hd, ldc: kvStride)
    }
}

/// x ← cap·tanh(x / cap), in place.
func softcap(_ x: UnsafeMutablePointer<Float>, count n: Int, _ cap: Float) {
    for i in 0 ..< n { x[i] = cap * tanhf(x[i] / cap) }
}

func softcap(_ x: inout [Float], _ cap: Float) {
    let n = x.count
    x.withUnsafeMutableBufferPointer { softcap($0.baseAddress!, count: n, cap) }
}

/// The MLP non-linearity.
@inline(__always) func activate(_ x: Float, _ a: Activation) -> Float {
    switch a {
    case .silu: silu(x)
    case .geluTanh: geluTanh(x)
    case .gelu: geluErf(x)
    }
}

/// Its derivative.
@inline(__always) func activationGrad(_ x: Float, _ a: Activation) -> Float {
    switch a {
    case .silu: siluGrad(x)
    case .geluTanh: geluTanhGrad(x)
    case .gelu: geluErfGrad(x)
    }
}

/// Exact GELU: x·Φ(x) = x/2·(1 + erf(x/√2)).
@inline(__always) func geluErf(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.707_106_78)) }

/// d geluErf(x) / dx = Φ(x) + x·φ(x).
@inline(__always) func geluErfGrad(_ x: Float) -> Float {
    let phi = expf(-0.5 * x * x) * 0.398_942_28 // 1/√(2π)
    return 0.5 * (1 + erff(x * 0.707_106_78)) + x * phi
}

@inline(__always) func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

/// d silu(x) / dx = σ(x)·(1 + x·(1 − σ(x))).
@inline(__always) func siluGrad(_ x: Float) -> Float {
    let s = 1 / (1 + expf(-x))
    return s * (1 + x * (1 - s))
}

/// GPT-2's GELU, tanh approximation ("gelu_new").
@inline(__always) func geluTanh(_ x: Float) -> Float {
    let c: Float = 0.797_884_56 // sqrt(2/π)
    return 0.5 * x * (1 + tanhf(c * (x + 0.044715 * x * x * x)))
}

/// d geluTanh(x) / dx.
@inline(__always) func geluTanhGrad(_ x: Float) -> Float {
    let c: Float = 0.797_884_56
    let u = c * (x + 0.044715 * x * x * x)
    let th = tanhf(u)
    return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * c * (1 + 3 * 0.044715 * x * x)
}
