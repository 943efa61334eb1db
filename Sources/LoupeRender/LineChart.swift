import Foundation

/// A line chart: series of (x, y) over shared axes with round-number ticks,
/// axis titles and a legend, for quantities over optimisation steps.
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var label: String
        public var points: [(x: Double, y: Double)]
        public var color: Color
        public var dashed: Bool
        public init(label: String, points: [(x: Double, y: Double)], color: Color, dashed: Bool = false) {
            self.label = label; self.points = points; self.color = color; self.dashed = dashed
        }
    }

    public var series: [Series]
    public var xTitle: String
    public var yTitle: String
    public var title: String
    /// A logarithmic y axis (positive values only), and one whose smallest
    /// value is at the top (a rank, where 1 is best).
    public var logarithmicY: Bool
    public var reversedY: Bool

    public init(series: [Series], xTitle: String, yTitle: String, title: String = "", logarithmicY: Bool = false, reversedY: Bool = false) {
        self.series = series; self.xTitle = xTitle; self.yTitle = yTitle; self.title = title
        self.logarithmicY = logarithmicY; self.reversedY = reversedY
    }

    func range(_ values: [Double]) -> (Double, Double) {
        let finite = values.filter(\.isFinite)
        guard var lo = finite.min(), var hi = finite.max() else { return (0, 1) }
        if hi - lo < 1e-12 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.05
        return (lo - pad, hi + pad)
    }

    /// Where the chart's parts go in `frame`.
    public struct Geometry {
        public var plot: Rect
        public var xScale: ColorScale
        public var yScale: ColorScale
        var xTicks: [Double], yTicks: [Double]
        var titleTop: Double?
        var legendAt: Point
        var below: Double
        var left: Double

        /// The x position of a data x.
        public func x(_ v: Double) -> Double { plot.x + xScale.position(v) * plot.width }
        /// The y position of a data y.
        public func y(_ v: Double) -> Double { plot.maxY - yScale.position(v) * plot.height }
    }

    public func geometry(_ canvas: Canvas, in frame: Rect, theme: Theme) -> Geometry {
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }
        let (x0, x1) = range(xs)
        let yScale: ColorScale
        if logarithmicY {
            let positive = ys.filter { $0.isFinite && $0 > 0 }
            let lo = positive.min() ?? 1, hi = positive.max() ?? 10
            // Whole decades, so the ticks fall on powers of ten.
            yScale = ColorScale(low: pow(10, (log10(lo)).rounded(.down)), high: pow(10, max((log10(hi)).rounded(.up), (log10(lo)).rounded(.down) + 1)),
                                logarithmic: true, reversed: reversedY)
        } else {
            let (y0, y1) = range(ys)
            yScale = ColorScale(low: y0, high: y1, reversed: reversedY)
        }
        let xScale = ColorScale(low: x0, high: x1)
        let yTicks = yScale.ticks(maxCount: 5), xTicks = xScale.ticks(maxCount: 6)
        let tick = theme.tickFont
        let line = canvas.measure("Ag", tick).height
        let tickWidth = yTicks.map { canvas.measure(ColorScale.format($0), tick).width }.max() ?? 0
        var top = frame.y + theme.margin
        let titleTop = title.isEmpty ? nil : top
        if !title.isEmpty { top += canvas.measure(title, theme.titleFont).height + theme.gap }
        let legend = Legend(entries: series.map { ($0.color, $0.label) })
        let legendSize = legend.size(canvas, theme: theme)
        let labelHeight = canvas.measure(yTitle, theme.labelFont).height
        let left = theme.margin + labelHeight + 2 * theme.gap + tickWidth
        // The legend goes to the right of the plot, or below it where it
        // would leave the plot less than half the width.
        let legendBelow = frame.width - left - theme.margin - legendSize.width - 2 * theme.gap < frame.width / 2
        let below = legendBelow ? legendSize.height + theme.gap : 0
        let plot = Rect(x: frame.x + left, y: top + line / 2,
                        width: frame.width - left - theme.margin - (legendBelow ? 0 : legendSize.width + 2 * theme.gap),
                        height: frame.maxY - theme.margin - below - canvas.measure(xTitle, theme.labelFont).height - theme.gap - line - theme.gap - (top + line / 2))
        let legendAt = legendBelow ? Point(frame.x + left, frame.maxY - theme.margin - legendSize.height) : Point(plot.maxX + 2 * theme.gap, plot.y)
        return Geometry(plot: plot, xScale: xScale, yScale: yScale, xTicks: xTicks, yTicks: yTicks, titleTop: titleTop,
                        legendAt: legendAt, below: below, left: left)
    }

    public func draw(_ canvas: Canvas, in frame: Rect, theme: Theme) {
        let g = geometry(canvas, in: frame, theme: theme)
        let plot = g.plot, yTicks = g.yTicks, xTicks = g.xTicks, below = g.below
        let tick = theme.tickFont
        if let top = g.titleTop {
            canvas.text(title, at: Point(frame.midX, top), font: theme.titleFont, color: theme.foreground,
                        anchor: TextAnchor(.center, .top), maxWidth: frame.width - 2 * theme.margin)
        }
        let legend = Legend(entries: series.map { ($0.color, $0.label) })
        guard plot.width > 10, plot.height > 10 else { return }
        func px(_ x: Double) -> Double { g.x(x) }
        func py(_ y: Double) -> Double { g.y(y) }
        for v in yTicks {
            canvas.line(Point(plot.x, py(v)), Point(plot.maxX, py(v)), theme.rule.withAlpha(0.5), width: theme.lineWidth / 2)
            canvas.text(ColorScale.format(v), at: Point(plot.x - theme.gap, py(v)), font: tick, color: theme.foreground, anchor: TextAnchor(.right, .middle))
        }
        for v in xTicks {
            canvas.text(ColorScale.format(v), at: Point(px(v), plot.maxY + theme.gap), font: tick, color: theme.foreground, anchor: TextAnchor(.center, .top))
        }
        canvas.stroke(plot, theme.rule, width: theme.lineWidth / 2)
        for s in series {
            let points = s.points.filter { $0.y.isFinite && (!logarithmicY || $0.y > 0) }.map { Point(px($0.x), py($0.y)) }
            canvas.clipped(to: plot) {
                canvas.polyline(points, s.color, width: theme.lineWidth * 2, dash: s.dashed ? [3, 2] : [])
            }
        }
        canvas.text(xTitle, at: Point(plot.midX, frame.maxY - theme.margin - below), font: theme.labelFont, color: theme.muted,
                    anchor: TextAnchor(.center, .bottom), maxWidth: plot.width)
        canvas.text(yTitle, at: Point(frame.x + theme.margin, plot.midY), font: theme.labelFont, color: theme.muted,
                    anchor: TextAnchor(.center, .top), angle: -.pi / 2, maxWidth: plot.height)
        legend.draw(canvas, at: g.legendAt, theme: theme)
    }
}
