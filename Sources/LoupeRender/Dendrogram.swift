import Foundation

/// Categorical colours that stay distinct with colour-vision deficiency
/// (Okabe & Ito 2008), for clusters and series.
public enum Palette {
    public static let okabeIto: [Color] = [0xE69F00, 0x56B4E9, 0x009E73, 0xF0E442, 0x0072B2, 0xD55E00, 0xCC79A7, 0x999999]
        .map { Color(hex: $0) }

    public static func categorical(_ i: Int) -> Color { okabeIto[((i % okabeIto.count) + okabeIto.count) % okabeIto.count] }
}


/// A dendrogram drawn to the left of rows: leaves on the right edge, at the
/// vertical centres given by the leaf order, the root on the left.
public struct Dendrogram: Sendable {
    public var merges: [Merge]
    public var leaves: Int
    /// Leaf ids from top to bottom.
    public var order: [Int]
    /// Optional colour per leaf; a link whose leaves share a colour takes it.
    public var leafColors: [Color]?

    public init(merges: [Merge], leaves: Int, order: [Int], leafColors: [Color]? = nil) {
        self.merges = merges; self.leaves = leaves; self.order = order; self.leafColors = leafColors
    }

    public func draw(_ canvas: Canvas, in rect: Rect, theme: Theme) {
        // Merges must name earlier nodes (a record is validated before it is
        // drawn; this keeps a bad list from trapping).
        guard leaves > 0, merges.enumerated().allSatisfy({ k, m in (0 ..< leaves + k).contains(m.left) && (0 ..< leaves + k).contains(m.right) }),
              leafColors.map({ $0.count >= leaves }) ?? true else { return }
        let rowHeight = rect.height / Double(leaves)
        var y = [Double](repeating: 0, count: leaves + merges.count)
        var colors = [Color?](repeating: nil, count: leaves + merges.count)
        for (row, leaf) in order.enumerated() where leaf < leaves {
            y[leaf] = rect.y + (Double(row) + 0.5) * rowHeight
            colors[leaf] = leafColors?[leaf]
        }
        let top = max(merges.map(\.height).max() ?? 1, 1e-9)
        func x(_ node: Int) -> Double {
            node < leaves ? rect.maxX : rect.maxX - (merges[node - leaves].height / top) * rect.width
        }
        for (k, m) in merges.enumerated() {
            let node = leaves + k
            y[node] = (y[m.left] + y[m.right]) / 2
            let same = colors[m.left] != nil && colors[m.left] == colors[m.right]
            colors[node] = same ? colors[m.left] : nil
            let ink = colors[node] ?? theme.muted
            let xm = x(node)
            canvas.polyline([Point(x(m.left), y[m.left]), Point(xm, y[m.left]), Point(xm, y[m.right]), Point(x(m.right), y[m.right])],
                            ink, width: theme.lineWidth)
        }
    }
}
