import Foundation

/// A labelled heatmap: rows × columns of coloured cells, optional text in
/// each cell, tick labels on the left, bottom and (optionally) top, axis
/// titles, a colorbar. Labels are measured: they shrink to the theme's
/// floor, turn vertical, thin out, or are cut with an ellipsis, so that they
/// never overlap or leave the frame.
public struct Heatmap: Sendable {
    /// [rows][columns]; row 0 is drawn at the top. NaN draws as `theme.missing`.
    public var values: [[Double]]
    public var colormap: Colormap
    public var scale: ColorScale
    public var cellText: [[String]]?
    public var rowLabels: [String]
    public var columnLabels: [String]
    public var topLabels: [String]?
    /// Columns whose top label is highlighted (e.g. the model predicted it).
    public var topMarks: [Bool]?
    public var rowTitle: String
    public var columnTitle: String
    public var topTitle: String
    public var colorbarLabel: String?
    public var title: String

    public init(values: [[Double]], colormap: Colormap, scale: ColorScale, cellText: [[String]]? = nil,
                rowLabels: [String], columnLabels: [String], topLabels: [String]? = nil, topMarks: [Bool]? = nil,
                rowTitle: String = "", columnTitle: String = "", topTitle: String = "", colorbarLabel: String? = nil,
                title: String = "") {
        self.values = values; self.colormap = colormap; self.scale = scale; self.cellText = cellText
        self.rowLabels = rowLabels; self.columnLabels = columnLabels; self.topLabels = topLabels; self.topMarks = topMarks
        self.rowTitle = rowTitle; self.columnTitle = columnTitle; self.topTitle = topTitle
        self.colorbarLabel = colorbarLabel; self.title = title
    }

    public var rows: Int { values.count }
    public var columns: Int { values.first?.count ?? 0 }

    /// Labels longer than this are cut with an ellipsis.
    static let maxLabelWidth = 90.0

    /// The natural cell size: wide enough for the cell text at the theme's
    /// annotation size (capped), otherwise square cells sized to the tick font.
    func naturalCell(_ canvas: Canvas, theme: Theme) -> Size {
        let line = canvas.measure("Ag", theme.tickFont).height
        guard let cellText else { return Size(line * 1.3, line * 1.3) }
        let widest = cellText.joined().map { canvas.measure($0, theme.annotationFont).width }.max() ?? 0
        return Size(min(max(widest + 4, line * 1.6), 64), canvas.measure("Ag", theme.annotationFont).height + 5)
    }

    /// The space taken around the cells, for a given cell width.
    struct Margins { var left, right, top, bottom: Double; var columnsVertical: Bool }

    func margins(_ canvas: Canvas, theme: Theme, cellWidth: Double) -> Margins {
        let tick = theme.tickFont
        let line = canvas.measure("Ag", tick).height
        let rowWidth = min(Self.maxLabelWidth, rowLabels.map { canvas.measure($0, tick).width }.max() ?? 0)
        let colExtent = columnExtent(canvas, columnLabels, cw: cellWidth, theme: theme)
        let vertical = (columnLabels.map { canvas.measure($0, tick).width }.max() ?? 0) > cellWidth - 2
        var top = theme.margin
        if !title.isEmpty { top += canvas.measure(title, theme.titleFont).height + theme.gap }
        if let topLabels {
            top += columnExtent(canvas, topLabels, marks: topMarks, cw: cellWidth, theme: theme) + theme.gap
            if !topTitle.isEmpty { top += canvas.measure(topTitle, theme.labelFont).height + theme.gap }
        }
        var bottom = theme.gap + colExtent + theme.margin
        if !columnTitle.isEmpty { bottom += canvas.measure(columnTitle, theme.labelFont).height + theme.gap }
        var left = theme.margin + rowWidth + theme.gap
        if !rowTitle.isEmpty { left += canvas.measure(rowTitle, theme.labelFont).height + theme.gap }
        var right = theme.margin
        if let colorbarLabel {
            right += Colorbar(colormap: colormap, scale: scale, label: colorbarLabel).width(canvas, theme: theme)
        }
        return Margins(left: left, right: right, top: top, bottom: bottom, columnsVertical: vertical)
    }

    /// The widest natural size, 20 in: a long prompt's natural cells would
    /// make a figure no raster can hold (129 tokens of the logit lens were
    /// 86 in); past it the cells narrow, and text that no longer fits a
    /// cell is left out.
    public static let maxNaturalWidth = 20.0 * 72

    /// The size the heatmap wants at its natural cell size (at most
    /// `maxNaturalWidth` wide).
    public func naturalSize(_ canvas: Canvas, theme: Theme) -> Size {
        let cell = naturalCell(canvas, theme: theme)
        let m = margins(canvas, theme: theme, cellWidth: cell.width)
        // Wide titles widen the figure rather than run off it.
        let titleWidth = title.isEmpty ? 0 : canvas.measure(title, theme.titleFont).width + 2 * theme.margin
        let width = max(m.left + m.right + Double(columns) * cell.width, titleWidth)
        if width > Self.maxNaturalWidth {
            return Size(Self.maxNaturalWidth, height(forWidth: Self.maxNaturalWidth, canvas, theme: theme))
        }
        return Size(width, m.top + m.bottom + Double(rows) * cell.height)
    }

    /// The height that goes with a given width (cells keep their natural aspect).
    public func height(forWidth width: Double, _ canvas: Canvas, theme: Theme) -> Double {
        let natural = naturalCell(canvas, theme: theme)
        var m = margins(canvas, theme: theme, cellWidth: natural.width)
        var cellWidth = max(1, (width - m.left - m.right) / Double(max(1, columns)))
        m = margins(canvas, theme: theme, cellWidth: cellWidth)
        cellWidth = max(1, (width - m.left - m.right) / Double(max(1, columns)))
        let minimumLine = canvas.measure("Ag", theme.tickFont.sized(theme.minimumTextSize)).height
        let cellHeight = max(min(natural.height * cellWidth / natural.width, natural.height * 1.5), min(natural.height, minimumLine))
        return m.top + m.bottom + Double(rows) * cellHeight
    }

    /// The cell rectangles' area within `frame`, as drawn.
    public func plotRect(_ canvas: Canvas, in frame: Rect, theme: Theme) -> Rect {
        let natural = naturalCell(canvas, theme: theme)
        var m = margins(canvas, theme: theme, cellWidth: natural.width)
        let first = (frame.width - m.left - m.right) / Double(max(1, columns))
        m = margins(canvas, theme: theme, cellWidth: first)
        return frame.inset(top: m.top, left: m.left, bottom: m.bottom, right: m.right)
    }

    /// The rectangle of each cell as drawn in `frame`, [rows][columns].
    public func cellRects(_ canvas: Canvas, in frame: Rect, theme: Theme) -> [[Rect]] {
        let plot = plotRect(canvas, in: frame, theme: theme)
        let cw = plot.width / Double(max(1, columns)), ch = plot.height / Double(max(1, rows))
        return (0 ..< rows).map { r in
            (0 ..< columns).map { c in Rect(x: plot.x + Double(c) * cw, y: plot.y + Double(r) * ch, width: cw, height: ch) }
        }
    }

    /// Throws unless every row, the cell text and the labels agree with the
    /// values' rows × columns.
    public func checkShape() throws {
        func bad(_ what: String) -> RenderError { .inconsistent("heatmap \(what) (\(rows) × \(columns) values)") }
        if let r = values.firstIndex(where: { $0.count != columns }) { throw bad("row \(r) has \(values[r].count) values") }
        if let cellText, cellText.count != rows || cellText.contains(where: { $0.count != columns }) { throw bad("cell text has another shape") }
        if rowLabels.count != rows { throw bad("has \(rowLabels.count) row labels") }
        if columnLabels.count != columns { throw bad("has \(columnLabels.count) column labels") }
        if let topLabels, topLabels.count != columns { throw bad("has \(topLabels.count) top labels") }
        if let topMarks, topMarks.count != columns { throw bad("has \(topMarks.count) top marks") }
    }

    public func draw(_ canvas: Canvas, in frame: Rect, theme: Theme) throws {
        guard rows > 0, columns > 0 else { return }
        try checkShape()
        let plot = plotRect(canvas, in: frame, theme: theme)
        let cw = plot.width / Double(columns), ch = plot.height / Double(rows)

        if !title.isEmpty {
            canvas.text(title, at: Point(frame.midX, frame.y + theme.margin), font: theme.titleFont, color: theme.foreground,
                        anchor: TextAnchor(.center, .top), maxWidth: frame.width - 2 * theme.margin)
        }

        // Cells: one image when they are too small to see as rectangles.
        let colors = values.flatMap { $0.map { v -> Color in
            let t = scale.position(v)
            return t.isNaN ? theme.missing : colormap.color(at: t)
        } }
        if cw < 3 || ch < 3 {
            try canvas.image(colors, columns: columns, in: plot)
        } else {
            for r in 0 ..< rows {
                for c in 0 ..< columns {
                    let cell = Rect(x: plot.x + Double(c) * cw, y: plot.y + Double(r) * ch, width: cw, height: ch)
                    canvas.fill(cell, colors[r * columns + c])
                }
            }
        }
        canvas.stroke(plot, theme.rule, width: theme.lineWidth / 2)

        if let cellText { drawCellText(canvas, cellText, colors: colors, plot: plot, cw: cw, ch: ch, theme: theme) }

        let tickFont = fitted(theme.tickFont, toLine: min(ch, 1e9), canvas, theme: theme)
        drawRowLabels(canvas, plot: plot, ch: ch, font: tickFont, theme: theme)
        drawColumnLabels(canvas, labels: columnLabels, marks: nil, plot: plot, cw: cw, below: true, theme: theme)
        if let topLabels {
            drawColumnLabels(canvas, labels: topLabels, marks: topMarks, plot: plot, cw: cw, below: false, theme: theme)
        }
        // Axis titles.
        if !rowTitle.isEmpty {
            // Just left of the row labels as drawn (they may have shrunk).
            let labels = min(Self.maxLabelWidth, rowLabels.map { canvas.measure($0, tickFont).width }.max() ?? 0)
            let height = canvas.measure(rowTitle, theme.labelFont).height
            let x = max(frame.x + theme.margin, plot.x - theme.gap - labels - theme.gap - height)
            canvas.text(rowTitle, at: Point(x, plot.midY), font: theme.labelFont, color: theme.muted,
                        anchor: TextAnchor(.center, .top), angle: -.pi / 2, maxWidth: plot.height)
        }
        if !columnTitle.isEmpty {
            canvas.text(columnTitle, at: Point(plot.midX, frame.maxY - theme.margin), font: theme.labelFont, color: theme.muted,
                        anchor: TextAnchor(.center, .bottom), maxWidth: plot.width)
        }
        if let topLabels, !topTitle.isEmpty, !topLabels.isEmpty {
            let labelsTop = plot.y - theme.gap - columnExtent(canvas, topLabels, marks: topMarks, cw: cw, theme: theme)
            canvas.text(topTitle, at: Point(plot.midX, labelsTop - theme.gap), font: theme.labelFont, color: theme.muted,
                        anchor: TextAnchor(.center, .bottom), maxWidth: plot.width)
        }
        if let colorbarLabel {
            let bar = Colorbar(colormap: colormap, scale: scale, label: colorbarLabel)
            try bar.draw(canvas, in: Rect(x: plot.maxX, y: plot.y, width: bar.width(canvas, theme: theme), height: plot.height), theme: theme)
        }
    }

    /// The font shrunk (down to the theme's floor) so that one line fits `height`.
    func fitted(_ font: Font, toLine height: Double, _ canvas: Canvas, theme: Theme) -> Font {
        let line = canvas.measure("Ag", font).height
        guard line > height else { return font }
        return font.sized(max(theme.minimumTextSize, font.size * height / line))
    }

    /// Every k-th index, so that labels of extent `size` fit in slots of `slot`.
    static func stride(count: Int, size: Double, slot: Double) -> Int {
        guard slot > 0 else { return count }
        return max(1, Int((size / slot).rounded(.up)))
    }

    private func drawRowLabels(_ canvas: Canvas, plot: Rect, ch: Double, font: Font, theme: Theme) {
        let line = canvas.measure("Ag", font).height
        let every = Self.stride(count: rows, size: line, slot: ch)
        for r in Swift.stride(from: 0, to: rows, by: every) where r < rowLabels.count {
            canvas.text(rowLabels[r], at: Point(plot.x - theme.gap, plot.y + (Double(r) + 0.5) * ch), font: font,
                        color: theme.foreground, anchor: TextAnchor(.right, .middle), maxWidth: Self.maxLabelWidth)
        }
    }

    /// How far column labels reach from the plot: one line when they fit
    /// across their column, else the longest label set vertically in the
    /// font fitted to the column width.
    func columnExtent(_ canvas: Canvas, _ labels: [String], marks: [Bool]? = nil, cw: Double, theme: Theme) -> Double {
        guard (labelWidths(canvas, labels, marks: marks, font: theme.tickFont).max() ?? 0) > cw - 2 else {
            return canvas.measure("Ag", theme.tickFont).height
        }
        let font = fitted(theme.tickFont, toLine: cw, canvas, theme: theme)
        return min(Self.maxLabelWidth, labelWidths(canvas, labels, marks: marks, font: font).max() ?? 0)
    }

    /// Each label's width in `font`, a marked one in its bold.
    private func labelWidths(_ canvas: Canvas, _ labels: [String], marks: [Bool]?, font: Font) -> [Double] {
        labels.enumerated().map { c, label in canvas.measure(label, marks?[c] ?? false ? font.withBold() : font).width }
    }

    private func drawColumnLabels(_ canvas: Canvas, labels: [String], marks: [Bool]?, plot: Rect, cw: Double, below: Bool, theme: Theme) {
        let vertical = (labelWidths(canvas, labels, marks: marks, font: theme.tickFont).max() ?? 0) > cw - 2
        let font = vertical ? fitted(theme.tickFont, toLine: cw, canvas, theme: theme) : theme.tickFont
        let line = canvas.measure("Ag", font).height
        let every = vertical ? Self.stride(count: labels.count, size: line, slot: cw) : 1
        let y = below ? plot.maxY + theme.gap : plot.y - theme.gap
        for c in Swift.stride(from: 0, to: min(columns, labels.count), by: every) {
            let x = plot.x + (Double(c) + 0.5) * cw
            let marked = marks?[c] ?? false
            let f = marked ? font.withBold() : font
            let color = marked ? theme.accent : theme.foreground
            if vertical {
                // Read bottom to top, ending at the axis.
                canvas.text(labels[c], at: Point(x, y), font: f, color: color,
                            anchor: TextAnchor(below ? .right : .left, .middle), angle: -.pi / 2, maxWidth: Self.maxLabelWidth)
            } else {
                canvas.text(labels[c], at: Point(x, y), font: f, color: color,
                            anchor: TextAnchor(.center, below ? .top : .bottom), maxWidth: cw)
            }
        }
    }

    private func drawCellText(_ canvas: Canvas, _ text: [[String]], colors: [Color], plot: Rect, cw: Double, ch: Double, theme: Theme) {
        let font = fitted(theme.annotationFont, toLine: ch - 1, canvas, theme: theme)
        // Too small to read even at the floor: leave the cells plain, rather
        // than fill them with ellipses.
        guard canvas.measure("Ag", font).height <= ch + 0.5, cw >= 6 else { return }
        let all = text.joined().filter { !$0.isEmpty }
        let cut = all.filter { canvas.measure($0, font).width > cw - 2 }.count
        guard cut * 2 <= all.count else { return }
        for r in 0 ..< min(rows, text.count) {
            // A text that does not fit its cell is left out, not cut to an
            // ellipsis (a cell of "…" says nothing and reads as a token).
            for c in 0 ..< min(columns, text[r].count) where !text[r][c].isEmpty && canvas.measure(text[r][c], font).width <= cw - 2 {
                let background = colors[r * columns + c]
                let ink = background.luminance > 0.4 ? Color.black : Color.white
                canvas.text(text[r][c], at: Point(plot.x + (Double(c) + 0.5) * cw, plot.y + (Double(r) + 0.5) * ch),
                            font: font, color: ink, anchor: .center)
            }
        }
    }
}
