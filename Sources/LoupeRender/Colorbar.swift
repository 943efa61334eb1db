import Foundation

/// A vertical colour scale with ticks and a label.
public struct Colorbar: Sendable {
    public var colormap: Colormap
    public var scale: ColorScale
    public var label: String

    public static let barWidth = 8.0

    public init(colormap: Colormap, scale: ColorScale, label: String) {
        self.colormap = colormap; self.scale = scale; self.label = label
    }

    /// Width needed beside a plot: bar, tick labels, and the rotated label.
    public func width(_ canvas: Canvas, theme: Theme) -> Double {
        let tickWidth = scale.ticks().map { canvas.measure(ColorScale.format($0), theme.tickFont).width }.max() ?? 0
        let labelHeight = label.isEmpty ? 0 : canvas.measure(label, theme.labelFont).height + theme.gap
        return theme.gap * 2 + Self.barWidth + theme.gap + tickWidth + labelHeight
    }

    /// Draws the bar in `frame` (its full height; the bar starts at frame.x + gap·2).
    public func draw(_ canvas: Canvas, in frame: Rect, theme: Theme) throws {
        let bar = Rect(x: frame.x + theme.gap * 2, y: frame.y, width: Self.barWidth, height: frame.height)
        let steps = 128
        let colors = (0 ..< steps).map { colormap.color(at: 1 - (Double($0) + 0.5) / Double(steps)) }
        try canvas.image(colors, columns: 1, in: bar)
        canvas.stroke(bar, theme.rule, width: theme.lineWidth / 2)
        var tickRight = bar.maxX
        for v in scale.ticks() {
            let t = scale.position(v)
            guard t.isFinite, t >= -1e-9, t <= 1 + 1e-9 else { continue }
            let y = bar.maxY - t * bar.height
            canvas.line(Point(bar.maxX, y), Point(bar.maxX + 2, y), theme.foreground, width: theme.lineWidth / 2)
            let s = canvas.text(ColorScale.format(v), at: Point(bar.maxX + theme.gap, y), font: theme.tickFont,
                                color: theme.foreground, anchor: TextAnchor(.left, .middle))
            tickRight = max(tickRight, bar.maxX + theme.gap + s.width)
        }
        if !label.isEmpty {
            // Read bottom to top, as the row title is.
            canvas.text(label, at: Point(tickRight + theme.gap, bar.midY), font: theme.labelFont, color: theme.muted,
                        anchor: TextAnchor(.center, .top), angle: -.pi / 2, maxWidth: bar.height)
        }
    }
}
