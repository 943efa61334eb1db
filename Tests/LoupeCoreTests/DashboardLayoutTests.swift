import Foundation
@testable import LoupeCore
import LoupeRender
import Testing

/// A view of fixed natural height, to test dashboard layout without a model.
private struct BoxView: ViewPlugin {
    struct Options: ViewOptions {
        @ViewOption("natural height", range: 1 ... 10000) var height = 100.0
        init() {}
    }
    struct Data: Codable, Sendable { var height: Double }
    static let info = ViewInfo(id: "box", title: "Box", summary: "A box.", example: ViewExample(prompt: ""), hooks: [])
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

/// Options are declared once: the documentation `loupe views` prints is read
/// off `Options()`, and what is declared is checked before any analysis.
@Suite struct OptionDeclarationTests {
    enum Shade: String, Codable, Sendable, OptionChoice { case light, dark, grey }

    struct Declared: ViewOptions {
        @ViewOption("how many", range: 1 ... 10) var count = 3
        @ViewOption("a scale", range: 0.5 ... 2) var scale = 1.0
        @ViewOption("the shade", allowed: [.light, .dark]) var shade: Shade = .light
        @ViewOption(promptSet: "prompts to read") var prompts = "builtin:topics"
        @ViewOption("a flag") var flag = false
        init() {}
    }

    struct Forgotten: ViewOptions {
        @ViewOption("declared") var declared = 1
        var undeclared = 2
        init() {}
    }

    @Test func docsComeFromTheDefaults() throws {
        let (docs, undeclared) = try OptionCollector.docs(of: Declared())
        #expect(undeclared.isEmpty)
        #expect(docs.map(\.name) == ["count", "scale", "shade", "prompts", "flag"])
        #expect(docs.map(\.defaultValue) == ["3", "1", "light", "builtin:topics", "false"])
        #expect(docs.map(\.kind) == [.int, .number, .choice, .promptSet, .bool])
        #expect(docs[0].minimum == 1 && docs[0].maximum == 10 && docs[0].range == "1 to 10")
        #expect(docs[2].allowed == ["light", "dark"])
        // A property without a declaration is found, so registering the view stops with its name.
        #expect(try OptionCollector.docs(of: Forgotten()).undeclared == ["undeclared"])
    }

    @Test func valuesEncodeBareAndDecodeBack() throws {
        var o = Declared()
        o.count = 7
        let json = String(decoding: try JSONEncoder().encode(o), as: UTF8.self)
        #expect(json.contains("\"count\":7") && json.contains("\"shade\":\"light\""))
        let back = try JSONDecoder().decode(Declared.self, from: Data(json.utf8))
        #expect(back.count == 7 && back.scale == 1)
    }

    @Test func rangesAndChoicesAreCheckedWhenRead() throws {
        let registry = ViewRegistry([BoxView.self])
        let view = try registry.view("box")
        #expect { try view.resolveOptions(["height": "0"]) } throws: {
            "\($0)" == "view 'box' option 'height': '0' is not a number from 1 to 10000"
        }
        #expect { try view.resolveOptions(["height": "tall"]) } throws: { "\($0)".contains("'tall' is not a number from 1 to 10000") }
        #expect(view.info.options.first?.range == "1 to 10000")
        // A spec reports it at its line, with the others.
        #expect { try DashboardSpec.parse("panels:\n  - view: box\n    options: {height: 20000}\n", file: "d.yml", registry: registry) } throws: {
            "\($0)".contains("d.yml:3: view 'box' option 'height': '20000' is not a number from 1 to 10000")
        }
    }
}
