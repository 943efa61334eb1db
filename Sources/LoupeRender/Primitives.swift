import Foundation

/// A panel label, "(a)", set bold at a panel's top-left corner.
public enum PanelLabel {
    public static func text(_ index: Int) -> String {
        "(" + String(UnicodeScalar(UInt8(97 + index % 26))) + ")"
    }

    public static func size(_ index: Int, _ canvas: Canvas, theme: Theme) -> Size {
        canvas.measure(text(index), theme.titleFont)
    }

    public static func draw(_ index: Int, _ canvas: Canvas, at point: Point, theme: Theme) {
        canvas.text(text(index), at: point, font: theme.titleFont, color: theme.foreground)
    }
}

/// A legend: a colour swatch and a label per entry, one entry per line.
public struct Legend: Sendable {
    public var entries: [(color: Color, label: String)]
    public var title: String

    public init(entries: [(color: Color, label: String)], title: String = "") {
        self.entries = entries; self.title = title
    }

    public func size(_ canvas: Canvas, theme: Theme) -> Size {
        let line = canvas.measure("Ag", theme.tickFont).height
        let widest = entries.map { canvas.measure($0.label, theme.tickFont).width }.max() ?? 0
        let titleSize = title.isEmpty ? Size(0, 0) : canvas.measure(title, theme.labelFont)
        return Size(max(line + theme.gap + widest, titleSize.width),
                    titleSize.height + (title.isEmpty ? 0 : theme.gap) + Double(entries.count) * (line + theme.gap / 2))
    }

    public func draw(_ canvas: Canvas, at origin: Point, theme: Theme) {
        var y = origin.y
        if !title.isEmpty {
            y += canvas.text(title, at: Point(origin.x, y), font: theme.labelFont, color: theme.muted).height + theme.gap
        }
        let line = canvas.measure("Ag", theme.tickFont).height
        for e in entries {
            let swatch = Rect(x: origin.x, y: y + line * 0.15, width: line * 0.7, height: line * 0.7)
            canvas.fill(swatch, e.color)
            canvas.stroke(swatch, theme.rule, width: theme.lineWidth / 2)
            canvas.text(e.label, at: Point(origin.x + line + theme.gap / 2, y), font: theme.tickFont, color: theme.foreground)
            y += line + theme.gap / 2
        }
    }
}

/// Tokens set as running text, wrapped to a width, each on a background
/// coloured by its value: the colored-token activation display.
public struct WrappedTokens: Sendable {
    public var tokens: [String]
    /// One per token; NaN leaves the token uncoloured.
    public var values: [Double]
    public var colormap: Colormap
    public var scale: ColorScale

    public init(tokens: [String], values: [Double], colormap: Colormap, scale: ColorScale) {
        self.tokens = tokens; self.values = values; self.colormap = colormap; self.scale = scale
    }

    /// Token boxes laid out in lines, for a given width.
    func layout(_ canvas: Canvas, width: Double, theme: Theme) -> [Rect] {
        let font = theme.labelFont
        let line = canvas.measure("Ag", font).height + 3
        var x = 0.0, y = 0.0
        var boxes: [Rect] = []
        for t in tokens {
            let w = min(canvas.measure(TokenText.visible(t), font).width + 3, width)
            if x > 0, x + w > width { x = 0; y += line + 2 }
            boxes.append(Rect(x: x, y: y, width: w, height: line))
            x += w + 1
        }
        return boxes
    }

    public func height(forWidth width: Double, _ canvas: Canvas, theme: Theme) -> Double {
        layout(canvas, width: width, theme: theme).last?.maxY ?? 0
    }

    /// Each token's box, relative to the frame's top-left corner, for a given width.
    public func boxes(_ canvas: Canvas, width: Double, theme: Theme) -> [Rect] {
        layout(canvas, width: width, theme: theme)
    }

    public func draw(_ canvas: Canvas, in frame: Rect, theme: Theme) {
        let boxes = layout(canvas, width: frame.width, theme: theme)
        for (i, box) in boxes.enumerated() {
            let r = Rect(x: frame.x + box.x, y: frame.y + box.y, width: box.width, height: box.height)
            let v = i < values.count ? values[i] : .nan
            let t = scale.position(v)
            let background = t.isNaN ? theme.background : colormap.color(at: t)
            canvas.fill(r, background)
            let ink = t.isNaN ? theme.foreground : (background.luminance > 0.4 ? Color.black : Color.white)
            canvas.text(TokenText.visible(tokens[i]), at: Point(r.midX, r.midY), font: theme.labelFont, color: ink,
                        anchor: .center, maxWidth: r.width - 2)
        }
    }
}

/// Small multiples: a grid of small images (one per row and column, each a
/// matrix of values through one colormap), labelled along the left and top,
/// with a shared colorbar. Labels thin out when rows are too short for them.
public struct SmallMultiples: Sendable {
    /// [rows][columns][height][width]; NaN draws as `theme.missing`.
    public var panels: [[[[Float]]]]
    public var rowLabels: [String]
    public var columnLabels: [String]
    public var rowTitle: String
    public var columnTitle: String
    public var title: String
    public var colormap: Colormap
    public var scale: ColorScale
    public var colorbarLabel: String

    public init(panels: [[[[Float]]]], rowLabels: [String], columnLabels: [String], rowTitle: String, columnTitle: String,
                title: String, colormap: Colormap, scale: ColorScale, colorbarLabel: String) {
        self.panels = panels; self.rowLabels = rowLabels; self.columnLabels = columnLabels; self.rowTitle = rowTitle
        self.columnTitle = columnTitle; self.title = title; self.colormap = colormap; self.scale = scale
        self.colorbarLabel = colorbarLabel
    }

    public var rows: Int { panels.count }
    public var columns: Int { panels.first?.count ?? 0 }
    static let gap = 2.0

    struct Margins { var left, top, right, bottom: Double }

    func margins(_ canvas: Canvas, theme: Theme) -> Margins {
        let tick = theme.tickFont
        let rowWidth = rowLabels.map { canvas.measure($0, tick).width }.max() ?? 0
        let left = theme.margin + (rowTitle.isEmpty ? 0 : canvas.measure(rowTitle, theme.labelFont).height + theme.gap) + rowWidth + theme.gap
        var top = theme.margin + canvas.measure("Ag", tick).height + theme.gap
        if !columnTitle.isEmpty { top += canvas.measure(columnTitle, theme.labelFont).height + theme.gap }
        if !title.isEmpty { top += canvas.measure(title, theme.titleFont).height + theme.gap }
        let right = theme.margin + Colorbar(colormap: colormap, scale: scale, label: colorbarLabel).width(canvas, theme: theme)
        return Margins(left: left, top: top, right: right, bottom: theme.margin)
    }

    /// The size with panels of `panel` points, or fitted to `width`.
    public func size(panel: Double, width: Double?, _ canvas: Canvas, theme: Theme) -> Size {
        let m = margins(canvas, theme: theme)
        let p = width.map { max(2, ($0 - m.left - m.right) / Double(max(1, columns)) - Self.gap) } ?? panel
        let cell = p + Self.gap
        return Size(width ?? (m.left + Double(columns) * cell + m.right), m.top + Double(rows) * cell + m.bottom)
    }

    /// Where the panels go in `frame`: the top-left of panel (0, 0) and the
    /// side of each square panel.
    func geometry(_ canvas: Canvas, in frame: Rect, theme: Theme) -> (origin: Point, panel: Double) {
        let m = margins(canvas, theme: theme)
        let byWidth = (frame.width - m.left - m.right) / Double(max(1, columns)) - Self.gap
        let byHeight = (frame.height - m.top - m.bottom) / Double(max(1, rows)) - Self.gap
        return (Point(frame.x + m.left, frame.y + m.top), max(1, min(byWidth, byHeight)))
    }

    /// The rectangle of each panel as drawn in `frame`, [rows][columns].
    public func panelRects(_ canvas: Canvas, in frame: Rect, theme: Theme) -> [[Rect]] {
        let (origin, panel) = geometry(canvas, in: frame, theme: theme)
        let cell = panel + Self.gap
        return (0 ..< rows).map { r in
            (0 ..< columns).map { c in Rect(x: origin.x + Double(c) * cell, y: origin.y + Double(r) * cell, width: panel, height: panel) }
        }
    }

    public func draw(_ canvas: Canvas, in frame: Rect, theme: Theme) throws {
        let columns = panels.first?.count ?? 0, side = panels.first?.first?.count ?? 0
        guard panels.allSatisfy({ $0.count == columns && $0.allSatisfy { $0.count == side && $0.allSatisfy { $0.count == side } } }),
              rowLabels.count == panels.count, columnLabels.count == columns else {
            throw RenderError.inconsistent("small multiples of unequal shapes or labels")
        }
        let m = margins(canvas, theme: theme)
        let (origin, panel) = geometry(canvas, in: frame, theme: theme)
        let cell = panel + Self.gap
        if !title.isEmpty {
            canvas.text(title, at: Point(frame.midX, frame.y + theme.margin), font: theme.titleFont, color: theme.foreground,
                        anchor: TextAnchor(.center, .top), maxWidth: frame.width - 2 * theme.margin)
        }
        let tick = theme.tickFont
        let line = canvas.measure("Ag", tick).height
        let every = max(1, Int((line / cell).rounded(.up)))
        for (r, row) in panels.enumerated() {
            let y = origin.y + Double(r) * cell
            if r % every == 0, r < rowLabels.count {
                canvas.text(rowLabels[r], at: Point(origin.x - theme.gap, y + panel / 2), font: tick, color: theme.foreground,
                            anchor: TextAnchor(.right, .middle))
            }
            for (c, values) in row.enumerated() {
                let w = values.first?.count ?? 0
                let colors = values.flatMap { $0.map { v -> Color in
                    let t = scale.position(Double(v))
                    return t.isNaN ? theme.missing : colormap.color(at: t)
                } }
                try canvas.image(colors, columns: w, in: Rect(x: origin.x + Double(c) * cell, y: y, width: panel, height: panel))
            }
        }
        let widest = columnLabels.map { canvas.measure($0, tick).width }.max() ?? 0
        let columnEvery = max(1, Int(((widest + theme.gap) / cell).rounded(.up)))
        for c in Swift.stride(from: 0, to: min(columns, columnLabels.count), by: columnEvery) {
            canvas.text(columnLabels[c], at: Point(origin.x + Double(c) * cell + panel / 2, origin.y - theme.gap), font: tick,
                        color: theme.foreground, anchor: TextAnchor(.center, .bottom))
        }
        if !columnTitle.isEmpty {
            canvas.text(columnTitle, at: Point(origin.x + Double(columns) * cell / 2, origin.y - theme.gap - line - theme.gap),
                        font: theme.labelFont, color: theme.muted, anchor: TextAnchor(.center, .bottom))
        }
        if !rowTitle.isEmpty {
            canvas.text(rowTitle, at: Point(frame.x + theme.margin, origin.y + Double(rows) * cell / 2), font: theme.labelFont,
                        color: theme.muted, anchor: TextAnchor(.center, .top), angle: -.pi / 2)
        }
        let barHeight = min(Double(rows) * cell - Self.gap, 200)
        try Colorbar(colormap: colormap, scale: scale, label: colorbarLabel)
            .draw(canvas, in: Rect(x: origin.x + Double(columns) * cell, y: origin.y, width: m.right, height: barHeight), theme: theme)
    }
}
