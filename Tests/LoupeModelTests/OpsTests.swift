import Foundation
@testable import LoupeModel
import Testing

@Suite struct SoftmaxTests {
    /// Softmax of every length from 1 to 40 against
    /// a Float64 softmax, within 1e-6 relative.
    @Test func softmaxMatchesFloat64() {
        for n in 1 ... 40 {
            let values = (0 ..< n).map { Float(sin(Double($0) * 1.7) * 9) }
            var x = values
            x.withUnsafeMutableBufferPointer { softmax($0.baseAddress!, count: n) }
            let m = values.max()!
            let e = values.map { Foundation.exp(Double($0 - m)) }
            let total = e.reduce(0, +)
            for j in 0 ..< n { #expect(abs(Double(x[j]) - e[j] / total) <= 1e-6 * (e[j] / total) + 1e-12, "n \(n), j \(j)") }
        }
    }
}
