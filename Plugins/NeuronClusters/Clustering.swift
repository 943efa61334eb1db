import Foundation
import LoupeCore
import LoupeSupport

/// Clustering of vectors by cosine distance.
enum Clustering {
    enum Linkage: String, Codable, Sendable { case average, complete }

    /// 1 − cos(a, b); 1 for a zero vector.
    static func cosineDistances(_ x: [[Double]]) -> [[Double]] {
        let norms = x.map { $0.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        return x.indices.map { i in x.indices.map { j in
            guard norms[i] > 0, norms[j] > 0 else { return i == j ? 0 : 1 }
            // Rounding can take 1 − cos a hair below 0 for identical directions.
            return max(0, 1 - zip(x[i], x[j]).reduce(0) { $0 + $1.0 * $1.1 } / (norms[i] * norms[j]))
        } }
    }

    /// Agglomerative clustering (naive O(n³); the view allows at most 512
    /// neurons). Merges are in order of height.
    static func agglomerative(_ d: [[Double]], linkage: Linkage) -> [Merge] {
        let n = d.count
        var active: [Int: [Int]] = [:]           // node → its leaves
        for i in 0 ..< n { active[i] = [i] }
        var merges: [Merge] = []
        var next = n
        while active.count > 1 {
            let nodes = active.keys.sorted()
            var best = (a: -1, b: -1, h: Double.infinity)
            for (ia, a) in nodes.enumerated() {
                for b in nodes[(ia + 1)...] {
                    let pairs = active[a]!.flatMap { i in active[b]!.map { d[i][$0] } }
                    let h = linkage == .average ? pairs.reduce(0, +) / Double(pairs.count) : pairs.max()!
                    if h < best.h { best = (a, b, h) }
                }
            }
            let leaves = active[best.a]! + active[best.b]!
            merges.append(Merge(left: best.a, right: best.b, height: best.h, size: leaves.count))
            active[best.a] = nil
            active[best.b] = nil
            active[next] = leaves
            next += 1
        }
        return merges
    }

    /// Leaves in dendrogram order (left subtree first).
    static func leafOrder(_ merges: [Merge], leaves n: Int) -> [Int] {
        guard let root = merges.indices.last else { return Array(0 ..< n) }
        var out: [Int] = []
        var stack = [n + root]
        while let node = stack.popLast() {
            if node < n { out.append(node) } else {
                let m = merges[node - n]
                stack.append(m.right)
                stack.append(m.left)
            }
        }
        return out
    }

    /// Cuts the tree into k clusters by undoing the last k − 1 merges;
    /// clusters are numbered by first appearance in `order`.
    static func cut(_ merges: [Merge], leaves n: Int, k: Int, order: [Int]) -> [Int] {
        let kept = merges.count - (min(max(k, 1), n) - 1)
        var parent = Array(0 ..< n + merges.count)
        func find(_ x: Int) -> Int { var x = x; while parent[x] != x { x = parent[x] }; return x }
        for (i, m) in merges.prefix(kept).enumerated() {
            parent[find(m.left)] = n + i
            parent[find(m.right)] = n + i
        }
        var label: [Int: Int] = [:]
        var out = [Int](repeating: 0, count: n)
        for leaf in order {
            let root = find(leaf)
            if label[root] == nil { label[root] = label.count }
            out[leaf] = label[root]!
        }
        return out
    }

    /// k-means on unit-normalised vectors (spherical, matching cosine
    /// distance), k-means++ seeding from `seed`; clusters numbered by size.
    static func kMeans(_ x: [[Double]], k: Int, seed: UInt64, iterations: Int = 50) -> [Int] {
        let unit = x.map { v -> [Double] in
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return n > 0 ? v.map { $0 / n } : v
        }
        let n = unit.count, k = min(max(k, 1), n)
        var rng = SeededRandom(seed: seed)
        func random() -> Double { rng.unit() }
        func dist(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } }
        var centres = [unit[Int(random() * Double(n)) % n]]
        while centres.count < k {
            let d = unit.map { p in centres.map { dist(p, $0) }.min()! }
            let total = d.reduce(0, +)
            var r = random() * total, pick = n - 1
            for (i, v) in d.enumerated() { r -= v; if r <= 0 { pick = i; break } }
            centres.append(unit[pick])
        }
        var assign = [Int](repeating: 0, count: n)
        for _ in 0 ..< iterations {
            let next = unit.map { p in centres.indices.min { dist(p, centres[$0]) < dist(p, centres[$1]) }! }
            if next == assign, assign.contains(where: { $0 != 0 }) || k == 1 { break }
            assign = next
            for c in 0 ..< k {
                let members = unit.indices.filter { assign[$0] == c }
                guard !members.isEmpty else { continue }
                // Back onto the unit sphere, so distance to a centre ranks as cosine distance does.
                let mean = (0 ..< unit[0].count).map { j in members.reduce(0) { $0 + unit[$1][j] } / Double(members.count) }
                let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
                centres[c] = norm > 0 ? mean.map { $0 / norm } : mean
            }
        }
        let sizes = (0 ..< k).map { c in assign.filter { $0 == c }.count }
        let rank = Array(0 ..< k).sorted { sizes[$0] > sizes[$1] || (sizes[$0] == sizes[$1] && $0 < $1) }
        var renumber = [Int](repeating: 0, count: k)
        for (i, c) in rank.enumerated() { renumber[c] = i }
        return assign.map { renumber[$0] }
    }
}
