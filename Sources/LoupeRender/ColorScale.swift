import Foundation

/// Maps values to 0...1 for a colormap: linear or logarithmic over a range.
public struct ColorScale: Sendable, Equatable, Codable {
    public var low: Double
    public var high: Double
    public var logarithmic: Bool
    /// High values take the low end of the colormap (ranks: 1 is best).
    public var reversed: Bool

    public init(low: Double, high: Double, logarithmic: Bool = false, reversed: Bool = false) {
        self.low = low; self.high = high; self.logarithmic = logarithmic; self.reversed = reversed
    }

    public func position(_ v: Double) -> Double {
        let p = forward(v)
        return reversed ? 1 - p : p
    }

    private func forward(_ v: Double) -> Double {
        guard v.isFinite else { return .nan }
        if logarithmic {
            let l = log10(max(low, 1e-12)), h = log10(max(high, 1e-12))
            return h > l ? (log10(max(v, 1e-12)) - l) / (h - l) : 0.5
        }
        return high > low ? (v - low) / (high - low) : 0.5
    }

    /// Tick values for a colorbar: round numbers (or powers of ten on a log scale).
    public func ticks(maxCount: Int = 5) -> [Double] {
        if logarithmic {
            let l = Int(floor(log10(max(low, 1e-12)))), h = Int(ceil(log10(max(high, 1e-12))))
            let step = max(1, (h - l) / max(1, maxCount - 1))
            return stride(from: l, through: h, by: step).map { pow(10, Double($0)) }.filter { $0 >= low * 0.999 && $0 <= high * 1.001 }
        }
        guard low.isFinite, high.isFinite else { return [low, high].filter(\.isFinite) }
        let span = high - low
        guard span > 0 else { return [low] }
        // A span beyond Double's range (−1e308 to 1e308), or one too small
        // to step through at this magnitude, gets its two ends.
        let raw = span / Double(max(1, maxCount - 1))
        guard span.isFinite, raw > max(abs(low), abs(high)) * 1e-12 else { return [low, high] }
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        let first = (low / step).rounded(.up) * step
        let count = min(Int(((high + step * 1e-9 - first) / step).rounded(.down)), 4 * maxCount)
        guard count >= 0 else { return [low, high] }
        return (0 ... count).map { first + Double($0) * step }.map { abs($0) < step * 1e-9 ? 0 : $0 }
    }

    /// A tick value printed compactly.
    public static func format(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e4 || a < 1e-3 {
            // One style for every tick: the mantissa to one decimal, and no
            // ".0" (so 1e4 and 2e4 sit together, not 1e4 and 2.0e4).
            var e = Int(floor(log10(a)))
            var m = (v / pow(10, Double(e)) * 10).rounded() / 10
            if abs(m) >= 10 { m /= 10; e += 1 }
            let whole = abs(m - m.rounded()) < 1e-9
            return whole ? "\(Int(m.rounded()))e\(e)" : String(format: "%.1fe%d", m, e)
        }
        // Three decimals below 0.01, so 0.001 (a log scale's floor) is not printed "0".
        var s = String(format: a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 0.01 ? "%.2f" : "%.3f", v)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }
}
