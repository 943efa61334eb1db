import Foundation
@testable import LoupeCore
import LoupeRender
import Testing

/// A view of fixed natural height, to test dashboard layout without a model.
private struct BoxView: ViewPlugin {
    struct Options: Codable, Sendable { var height = 100.0 }
    struct Data: Codable, Sendable { var height: Double }
    static let info = ViewInfo(id: "box", title: "Box", summary: "A box.", options: [OptionDoc("height", .number, default: "100", "natural height")],
                               example: ViewExample(prompt: ""), hooks: [])
    static var defaultOptions: Options { Options() }
    func analyze(_ input: AnalysisInput, options: Options) throws -> Data { Data(height: options.height) }
    func size(of data: Data, options: Options, theme: Theme, width: Double?, measure: Canvas) -> Size { Size(width ?? 100, data.height) }
    func draw(_ data: Data, options: Options, on canvas: Canvas, in frame: Rect, theme: Theme) throws {
        canvas.fill(frame, theme.accent)
    }
}

@Suite struct DashboardLayoutTests {
    let registry = ViewRegistry([BoxView.self])

    func dashboard(_ yaml: String) throws -> (Dashboard, Dashboard.Layout) {
        let spec = try DashboardSpec.parse(yaml, file: "d.yml", registry: registry)
        let view = try registry.view("box")
        let records = try spec.panels.map { p in
            let options = try view.resolveOptions(p.options)
            return FigureRecord(loupeVersion: "test", view: "box", model: "none", prompt: "", ids: [],
                                options: options, data: BoxView.Data(height: (options as! BoxView.Options).height))
        }
        let d = Dashboard(spec: spec, prompt: "", records: records)
        return (d, try d.layout(measure: try Canvas.measuring()))
    }

    @Test func panelsFillTheFirstPlaceTheirSpanFits() throws {
        // Spans 1, 3, 1 in three columns: the third panel goes back to the
        // first row (dense placement, as the HTML page's grid does).
        let (_, l) = try dashboard("""
        theme: paper
        layout: {columns: 3, width: 6in}
        panels:
          - {view: box}
          - {view: box, span: 3}
          - {view: box}
        """)
        let f = l.frames
        #expect(f[0].y == f[2].y, "the third panel shares the first row")
        #expect(f[2].x > f[0].x)
        #expect(f[1].y > f[0].maxY, "the wide panel takes the second row")
        #expect(abs(f[1].width - (6 * 72 - 2 * Theme.paper.gap)) < 1e-6, "a full-width panel spans the page less its padding")
        #expect(abs(f[0].width * 3 + 2 * Theme.paper.margin - f[1].width) < 1e-6, "three columns and two gutters make the full width")
        // Nothing leaves the page or overlaps.
        for (i, a) in f.enumerated() {
            #expect(a.minX >= 0 && a.maxX <= l.page.width + 1e-9 && a.maxY <= l.page.height + 1e-9)
            for b in f[(i + 1)...] { #expect(!a.intersects(b)) }
        }
    }

    @Test func rowsAreAsTallAsTheirTallestPanel() throws {
        let (_, l) = try dashboard("""
        layout: {columns: 2, width: 8in}
        panels:
          - {view: box, options: {height: 100}}
          - {view: box, options: {height: 250}}
          - {view: box, options: {height: 80}, span: {columns: 1, rows: 2}}
          - {view: box, options: {height: 50}}
        """)
        let f = l.frames
        #expect(abs(f[1].height - 250) < 1e-6, "row 1 takes the taller panel's height")
        #expect(abs(f[0].height - 125) < 1e-6, "the shorter panel stretches by a quarter, at the top of its cell")
        #expect(f[0].y == f[1].y)
        // The two-row panel spans the second and third rows; the panel beside
        // it sits in the second.
        #expect(f[2].y == f[3].y)
        #expect(f[2].height > f[3].height)
    }

    @Test func aGivenHeightScalesTheRows() throws {
        let (_, l) = try dashboard("""
        title: Scaled
        layout: {columns: 1, width: 4in, height: 5in}
        panels:
          - {view: box, options: {height: 400}}
          - {view: box, options: {height: 200}}
        """)
        #expect(abs(l.page.height - 5 * 72) < 1e-6)
        #expect(abs(l.frames[0].height / l.frames[1].height - 2) < 1e-6, "the rows keep their proportions")
        #expect(l.title != nil)
        // Too short a page is an error naming the spec, not squashed panels.
        #expect(throws: CoreError.self) {
            _ = try dashboard("""
            layout: {columns: 1, width: 4in, height: 1in}
            panels:
              - {view: box, options: {height: 400}}
              - {view: box, options: {height: 30}}
            """)
        }
    }

    @Test func specProblemsNameTheirLines() throws {
        do {
            _ = try DashboardSpec.parse("""
            layout: {columns: 12, width: 4in}
            panels:
              - {view: bx}
              - {view: box, options: {height: tall}}
            """, file: "d.yml", registry: registry)
            Issue.record("expected a SpecError")
        } catch let e as SpecError {
            let text = e.description
            #expect(e.problems.count == 3, "\(text)")
            #expect(text.contains("d.yml:1: layout width 4 in gives 12 columns less than 0.75 in each"), "\(text)")
            #expect(text.contains("d.yml:3: panel (a): unknown view 'bx'"), "\(text)")
            #expect(text.contains("d.yml:4: view 'box' option 'height': 'tall' is not a number"), "\(text)")
        }
    }
}
