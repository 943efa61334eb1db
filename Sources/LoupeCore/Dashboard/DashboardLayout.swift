import Foundation
import LoupeModel
import LoupeRender

/// Where each panel goes on the page.
extension Dashboard {
    /// Where everything goes on the page, in points.
    public struct Layout: Sendable {
        public var page: Size
        /// The title's top centre, when there is a title.
        public var title: Point?
        /// The lines under the title (prompt, model, panels left out),
        /// wrapped to the page, each with its top centre.
        public var header: [(text: String, at: Point)]
        public var labels: [Point]
        /// Each panel's frame: the view draws within it.
        public var frames: [Rect]
    }

    /// Panels fill the grid row by row, each in the first free place its
    /// spans fit (as CSS grid's dense auto-placement does, which the HTML
    /// page uses). Every panel gets its view's natural
    /// height at its width; a row is as tall as its tallest panel, and a
    /// panel spanning rows shares its extra height among them and fills
    /// them. Shorter panels stretch to their row by at most a quarter. A given page height scales
    /// the rows to fit.
    public func layout(measure: Canvas) throws -> Layout {
        let theme = spec.theme
        let pad = theme.gap, gutter = theme.margin
        let labelHeight = PanelLabel.size(0, measure, theme: theme).height + theme.gap / 2
        let titleHeight = spec.title.isEmpty ? 0 : measure.measure(spec.title, theme.titleFont).height + theme.gap
        let headerLines = header.flatMap { measure.wrap($0, theme.tickFont, width: spec.width - 2 * pad) }
        let lineHeight = measure.measure("Mg", theme.tickFont).height
        var header: [(text: String, at: Point)] = []
        for (i, line) in headerLines.enumerated() { header.append((line, Point(spec.width / 2, pad + titleHeight + Double(i) * lineHeight))) }
        let headHeight = titleHeight + Double(headerLines.count) * lineHeight + theme.margin
        let columnWidth = (spec.width - 2 * pad - Double(spec.columns - 1) * gutter) / Double(spec.columns)

        var occupied: [[Bool]] = []
        var places: [(row: Int, column: Int)] = []
        for p in spec.panels {
            var row = 0
            search: while true {
                while occupied.count < row + p.rowSpan { occupied.append(Array(repeating: false, count: spec.columns)) }
                for c in 0 ... (spec.columns - p.columnSpan) {
                    let free = (row ..< row + p.rowSpan).allSatisfy { r in (c ..< c + p.columnSpan).allSatisfy { !occupied[r][$0] } }
                    if free {
                        for r in row ..< row + p.rowSpan { for k in c ..< c + p.columnSpan { occupied[r][k] = true } }
                        places.append((row, c))
                        break search
                    }
                }
                row += 1
            }
        }
        let rows = places.indices.map { places[$0].row + spec.panels[$0].rowSpan }.max() ?? 0
        let widths = spec.panels.map { Double($0.columnSpan) * columnWidth + Double($0.columnSpan - 1) * gutter }
        let heights = try zip(spec.panels, records).enumerated().map { i, pr in
            try pr.0.view.size(pr.1.data, pr.1.options, theme, widths[i], measure).height + labelHeight
        }
        var rowHeights = Array(repeating: 0.0, count: rows)
        for (i, p) in spec.panels.enumerated() where p.rowSpan == 1 {
            rowHeights[places[i].row] = max(rowHeights[places[i].row], heights[i])
        }
        for (i, p) in spec.panels.enumerated() where p.rowSpan > 1 {
            let span = places[i].row ..< places[i].row + p.rowSpan
            let have = span.reduce(0.0) { $0 + rowHeights[$1] } + Double(p.rowSpan - 1) * gutter
            if heights[i] > have { for r in span { rowHeights[r] += (heights[i] - have) / Double(p.rowSpan) } }
        }
        if let height = spec.height {
            // Only the figures are scaled, not the label above each row.
            let available = height - 2 * pad - headHeight - Double(rows - 1) * gutter - Double(rows) * labelHeight
            let figures = rowHeights.map { max(0, $0 - labelHeight) }
            let total = figures.reduce(0, +)
            let scaled = figures.map { $0 * available / max(total, 1) }
            guard available > 0, scaled.allSatisfy({ $0 >= 36 }) else {
                throw CoreError.badOptions(source: "'\(spec.file)'",
                                           detail: "layout height \(ColorScale.format(height / 72)) in leaves a row of panels less than half an inch; make it taller or leave it out")
            }
            rowHeights = scaled.map { $0 + labelHeight }
        }
        var rowTops: [Double] = []
        var y = pad + headHeight
        for h in rowHeights { rowTops.append(y); y += h + gutter }
        let page = Size(spec.width, y - gutter + pad)
        var labels: [Point] = [], frames: [Rect] = []
        for (i, p) in spec.panels.enumerated() {
            let x = pad + Double(places[i].column) * (columnWidth + gutter)
            let top = rowTops[places[i].row]
            let bottom = rowTops[places[i].row + p.rowSpan - 1] + rowHeights[places[i].row + p.rowSpan - 1]
            labels.append(Point(x + theme.margin, top))
            // A panel in one row stretches to the row (so that axes line up)
            // by at most a quarter of its natural height; a much shorter one
            // (a short prompt's head beside 30-block score maps) keeps its
            // proportions at the top of its cell. A panel spanning rows fills them.
            let cell = bottom - top - labelHeight
            let natural = heights[i] - labelHeight
            let height = p.rowSpan == 1 ? min(cell, max(natural * 1.25, 36)) : cell
            frames.append(Rect(x: x, y: top + labelHeight, width: widths[i], height: height))
        }
        return Layout(page: page, title: spec.title.isEmpty ? nil : Point(spec.width / 2, pad), header: header,
                      labels: labels, frames: frames)
    }

}
