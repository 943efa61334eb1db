import CCairo
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import LoupeRender
import LoupeTestSupport
import Testing

/// Draws `body` into a PNG of `size` points at 100 dpi, on the theme's background.
func png(_ size: Size, theme: Theme = .light, dpi: Double = 100, _ body: (Canvas) throws -> Void) throws -> Data {
    try FigureWriter.png(size: size, dpi: dpi, metadata: FigureMetadata(title: "test", software: "Loupe tests")) { canvas in
        canvas.fill(Rect(x: 0, y: 0, width: size.width, height: size.height), theme.background)
        try body(canvas)
    }
}

/// Tokens in many scripts, with whitespace, to exercise shaping and fallback.
let worldTokens = ["Hello", "␣world", "↵", "东京", "の", "مرحبا", "नमस्ते", "🙂", "e\u{301}", "\\xd9", "Straße", "supercalifragilistic", "···"]

@Suite struct PrimitiveGoldenTests {
    func heatmap(theme: Theme, annotate: Bool = true) -> Heatmap {
        let rows = 5, cols = worldTokens.count
        var values: [[Double]] = []
        var text: [[String]] = []
        for r in 0 ..< rows {
            values.append((0 ..< cols).map { c -> Double in Double((r * 7 + c * 3) % 11) / 10 })
            text.append(worldTokens.map { (t: String) -> String in r % 2 == 0 ? t : "0.5" })
        }
        let marks: [Bool] = (0 ..< cols).map { $0 % 3 == 0 }
        return Heatmap(
            values: values, colormap: .viridis, scale: ColorScale(low: 0, high: 1),
            cellText: annotate ? text : nil,
            rowLabels: ["embed", "0", "1", "2", "a long row label that will be cut"], columnLabels: worldTokens,
            topLabels: worldTokens.reversed(), topMarks: marks,
            rowTitle: "rows", columnTitle: "tokens in many scripts", topTitle: "top labels", colorbarLabel: "value",
            title: "Heatmap with labels in many scripts")
    }

    @Test(arguments: ["light", "dark", "paper"])
    func heatmapWithLabels(themeName: String) throws {
        let theme = try #require(Theme.named(themeName))
        let h = heatmap(theme: theme)
        let size = h.naturalSize(try Canvas.measuring(), theme: theme)
        try Golden.check(try png(size, theme: theme) { try h.draw($0, in: Rect(origin: Point(0, 0), size: size), theme: theme) },
                         named: "heatmap-\(themeName)")
    }

    /// Squeezed into a paper column, labels shrink, turn, thin out or are cut; none leaves the page.
    @Test func heatmapInANarrowColumn() throws {
        let theme = Theme.paper
        let h = heatmap(theme: theme)
        let width = 3.25 * 72
        let size = Size(width, h.height(forWidth: width, try Canvas.measuring(), theme: theme))
        try Golden.check(try png(size, theme: theme, dpi: 200) { try h.draw($0, in: Rect(origin: Point(0, 0), size: size), theme: theme) },
                         named: "heatmap-paper-column")
    }

    @Test func colorbarsOfEveryColormap() throws {
        let theme = Theme.light
        try Golden.check(try png(Size(420, 180)) { canvas in
            for (i, map) in Colormap.allCases.enumerated() {
                let scale = map == .rdbu ? ColorScale(low: -1, high: 1) : i == 1 ? ColorScale(low: 1, high: 49152, logarithmic: true) : ColorScale(low: 0, high: 1)
                try Colorbar(colormap: map, scale: scale, label: map.rawValue)
                    .draw(canvas, in: Rect(x: 10 + Double(i) * 100, y: 20, width: 90, height: 140), theme: theme)
            }
        }, named: "colorbars")
    }

    @Test func legendPanelLabelsAndWrappedTokens() throws {
        let theme = Theme.light
        try Golden.check(try png(Size(360, 170)) { canvas in
            PanelLabel.draw(0, canvas, at: Point(8, 6), theme: theme)
            PanelLabel.draw(1, canvas, at: Point(190, 6), theme: theme)
            Legend(entries: [(Colormap.viridis.color(at: 0.2), "induction"), (Colormap.viridis.color(at: 0.8), "previous token"),
                             (theme.accent, "東京 (CJK)")], title: "legend").draw(canvas, at: Point(20, 30), theme: theme)
            let tokens = ["The", " Eiffel", " Tower", " is", " in", " Paris", ".", "\n", "東京", " مرحبا", "🙂", " and", " then", " more", " tokens"]
            WrappedTokens(tokens: tokens, values: tokens.indices.map { Double($0) / Double(tokens.count - 1) },
                          colormap: .magma, scale: ColorScale(low: 0, high: 1))
                .draw(canvas, in: Rect(x: 190, y: 30, width: 160, height: 130), theme: theme)
        }, named: "legend-panel-wrapped")
    }

    @Test func smallMultiples() throws {
        let theme = Theme.light
        let t = 8
        let panels = (0 ..< 6).map { r in (0 ..< 4).map { c in (0 ..< t).map { q in (0 ..< t).map { k -> Float in
            k > q ? .nan : k == max(0, q - (r + c) % 3) ? 1 : 0.1
        } } } }
        let grid = SmallMultiples(panels: panels, rowLabels: (0 ..< 6).map { "\($0)" }, columnLabels: (0 ..< 4).map { "\($0)" },
                                  rowTitle: "block", columnTitle: "head", title: "small multiples", colormap: .viridis,
                                  scale: ColorScale(low: 0, high: 1), colorbarLabel: "weight")
        let size = grid.size(panel: 24, width: nil, try Canvas.measuring(), theme: theme)
        try Golden.check(try png(size) { try grid.draw($0, in: Rect(origin: Point(0, 0), size: size), theme: theme) }, named: "small-multiples")
    }
}

@Suite struct FigureWriterTests {
    let metadata = FigureMetadata(title: "a title", entries: [("loupe:view", "test"), ("loupe:prompt", "東京 → Paris")], software: "Loupe 0.1.0")

    func draw(_ canvas: Canvas) {
        canvas.fill(Rect(x: 0, y: 0, width: 144, height: 72), .white)
        canvas.text("Loupe ✓ 東京", at: Point(10, 10), font: Theme.light.labelFont, color: .black)
    }

    func temporaryFolder() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-render-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// PNG chunks by type, read straight from the file.
    func chunks(_ data: Data) -> [(type: String, body: Data)] {
        var out: [(String, Data)] = []
        var i = 8
        let bytes = [UInt8](data)
        while i + 8 <= bytes.count {
            let length = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            let type = String(decoding: bytes[i + 4 ..< i + 8], as: UTF8.self)
            out.append((type, Data(bytes[i + 8 ..< i + 8 + length])))
            i += 12 + length
        }
        return out
    }

    @Test func pngCarriesItsDPIAndProvenance() throws {
        let data = try FigureWriter.png(size: Size(144, 72), dpi: 300, metadata: metadata, draw: draw)
        let image = try DecodedPNG(data)
        #expect(image.width == 600 && image.height == 300) // 2 in × 1 in at 300 dpi
        let c = chunks(data)
        #expect(c.first?.type == "IHDR")
        let phys = try #require(c.first { $0.type == "pHYs" }?.body)
        let ppm = phys.prefix(4).reduce(0) { $0 << 8 | Int($1) }
        #expect(ppm == 11811) // 300 / 0.0254
        #expect(phys.last == 1)
        let texts = c.filter { $0.type == "iTXt" }.map { chunk -> (String, String) in
            let parts = chunk.body.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
            return (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1].dropFirst(4), as: UTF8.self))
        }
        #expect(texts.contains { $0 == ("loupe:prompt", "東京 → Paris") })
        #expect(texts.contains { $0 == ("Software", "Loupe 0.1.0") })
    }

    /// The pixels decode to the colours drawn (independently of the goldens).
    @Test func pngPixelsAreTheColoursDrawn() throws {
        let data = try FigureWriter.png(size: Size(72, 72), dpi: 72, metadata: metadata) { canvas in
            canvas.fill(Rect(x: 0, y: 0, width: 36, height: 72), Color(hex: 0xFF0000))
            canvas.fill(Rect(x: 36, y: 0, width: 36, height: 72), Color(hex: 0x2166AC))
        }
        let image = try DecodedPNG(data)
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(image.rgba[(y * image.width + x) * 4 ..< (y * image.width + x) * 4 + 4]) }
        #expect(pixel(10, 10) == [255, 0, 0, 255])
        #expect(pixel(60, 60) == [0x21, 0x66, 0xAC, 255])
    }

    @Test func svgIsWellFormedXML() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/f.svg"
        try FigureWriter.write(to: path, format: .svg, size: Size(144, 72), metadata: metadata, draw: draw)
        let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(parser.parse(), "SVG does not parse: \(String(describing: parser.parserError))")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains(#"width="144pt""#) && text.contains(#"height="72pt""#))
    }

    @Test func pdfHasTheRequestedPageSizeAndMetadata() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/f.pdf"
        try FigureWriter.write(to: path, format: .pdf, size: Size(234, 100), metadata: metadata, draw: draw)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.hasPrefix("%PDF-"))
        #expect(text.contains("/MediaBox [ 0 0 234 100 ]"))
        #expect(text.contains("/Creator (Loupe 0.1.0)"))
        #expect(text.contains("/FontFile"), "fonts are embedded")
    }

    /// A failed write leaves the existing file as it was and no temporary file behind.
    @Test func failedWritesLeaveNothingHalfWritten() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/f.png"
        try Data("previous".utf8).write(to: URL(fileURLWithPath: path))
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try FigureWriter.write(to: path, format: .png, size: Size(10, 10), metadata: metadata) { _ in throw Boom() }
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "previous")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["f.png"])
        #expect(throws: FileProblem.self) {
            try FigureWriter.write(to: folder + "/missing/f.png", format: .png, size: Size(10, 10), metadata: metadata, draw: draw)
        }
        #expect(throws: RenderError.self) { try FigureWriter.png(size: Size(0, 10), dpi: 200, metadata: metadata, draw: draw) }
    }

    @Test func lengthsAndTokenText() {
        #expect(Length(parsing: "3.25in")?.points(dpi: 200) == 234)
        #expect(Length(parsing: "2.54cm")?.points(dpi: 200) == 72)
        #expect(Length(parsing: "400px")?.points(dpi: 200) == 144)
        #expect(Length(parsing: "12")?.points(dpi: 200) == 12)
        #expect(Length(parsing: "wide") == nil)
        #expect(TokenText.visible(" the\n") == "␣the↵")
        #expect(TokenText.visible("\t\u{1}\r") == "⇥\\x01␍")
        #expect(TokenText.visible("") == "∅")
    }

    /// One marker per invisible character, escapes for the rest, and the
    /// markers themselves escaped when they are really in the text, so
    /// that no two texts are shown alike; a middle dot is a middle dot.
    @Test func tokenMarkersAreUnambiguous() {
        #expect(TokenText.visible("a\u{00A0}b") == "a⍽b")
        #expect(TokenText.visible("👨\u{200D}👩") == "👨\\u200d👩")
        #expect(TokenText.visible("\u{FEFF}x\u{00AD}") == "\\ufeffx\\u00ad")
        #expect(TokenText.visible("\u{3000}") == "\\u3000")
        #expect(TokenText.visible("\u{85}") == "\\u0085")
        #expect(TokenText.visible("␣↵⇥␍⍽∅") == "\\u2423\\u21b5\\u21e5\\u240d\\u237d\\u2205")
        #expect(TokenText.visible("l·l →") == "l·l␣→")
        let texts = [" ", "\u{00A0}", "\n", "\t", "\r", "\u{200D}", "\u{200B}", "␣", "·", "→", ".", ""]
        #expect(Set(texts.map(TokenText.visible)).count == texts.count)
    }

    /// In a PDF the markers are drawn, but the text layer holds the real
    /// characters: a space token is found by searching " Paris". Text
    /// extraction (pdftotext, from poppler) reads the page as a reader's
    /// search does.
    static let pdftotext = ["/usr/bin/pdftotext", "/usr/local/bin/pdftotext"].first(where: FileManager.default.isExecutableFile)

    @Test(.enabled(if: pdftotext != nil, "SKIPPED: pdftotext is not installed (scripts/setup.sh test installs poppler-utils), so PDF text was not checked"))
    func markedTextIsSearchableInPDF() throws {
        let pdftotext = try #require(Self.pdftotext)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-marks-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/marks.pdf"
        try FigureWriter.write(to: path, format: .pdf, size: Size(300, 200), dpi: 72, metadata: FigureMetadata(title: "marks", software: "tests")) { c in
            c.text("in" + TokenText.visible(" Paris"), at: Point(10, 10), font: Font(size: 10), color: .black)
            c.text("x" + TokenText.visible("\u{00A0}y"), at: Point(10, 40), font: Font(size: 10), color: .black)
            c.text("go" + TokenText.visible(" west\tnow"), at: Point(150, 190), font: Font(size: 10), color: .black, angle: -.pi / 2)
        }
        let run = Process()
        run.executableURL = URL(fileURLWithPath: pdftotext)
        run.arguments = ["-raw", path, "-"]
        let pipe = Pipe()
        run.standardOutput = pipe
        try run.run()
        run.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("in Paris"), "\(text)")
        // pdftotext gives the no-break space as a space; turned text comes
        // out a word per line.
        #expect(text.contains("x\u{00A0}y") || text.contains("x y"), "\(text)")
        let words = text.split(whereSeparator: \.isWhitespace)
        #expect(words.contains("go") && words.contains("west") && words.contains("now"), "\(text)")
        #expect(!text.contains("␣") && !text.contains("⍽"), "\(text)")
    }

    @Test func colormapsMatchTheirPublishedEnds() {
        let v0 = Colormap.viridis.color(at: 0), v1 = Colormap.viridis.color(at: 1)
        #expect(abs(v0.r - 0.267004) < 1e-6 && abs(v0.b - 0.329415) < 1e-6)
        #expect(abs(v1.r - 0.993248) < 1e-6 && abs(v1.g - 0.906157) < 1e-6)
        let mid = Colormap.rdbu.color(at: 0.5)
        #expect(abs(mid.r - Double(0xf7) / 255) < 1e-6)
        #expect(Colormap.rdbu.isDiverging && !Colormap.magma.isDiverging)
    }
}

/// Colour-bar ticks end on any finite range: one beyond Double's span
/// (−1e308 to 1e308) and one too narrow to step through at its magnitude.
@Test func ticksOfExtremeRanges() {
    #expect(ColorScale(low: -1e308, high: 1e308).ticks() == [-1e308, 1e308])
    #expect(ColorScale(low: 1e16, high: 1e16 + 2).ticks() == [1e16, 1e16 + 2])
    #expect(ColorScale(low: 0, high: 1e308).ticks().count <= 20)
    #expect(ColorScale(low: 0, high: 1).ticks() == [0, 0.25, 0.5, 0.75, 1])
    #expect(ColorScale(low: 1, high: 1e308, logarithmic: true).ticks().count <= 400)
}

/// Tick labels in scientific notation share one style: a whole mantissa
/// has no ".0", so a linear colour bar reads 1e4, 2e4 (not 1e4, 2.0e4);
/// a mantissa that rounds to 10 moves to the next power.
@Test func scientificTicksShareOneStyle() {
    #expect([1e4, 2e4, 2.5e4, 99_600, 1.5e-4, -3e-5, 120].map(ColorScale.format) == ["1e4", "2e4", "2.5e4", "1e5", "1.5e-4", "-3e-5", "120"])
    // A log scale's floor of 0.001 is not "0"; 0.25 keeps its two decimals.
    #expect([0.001, 0.005, 0.25, 0.5].map(ColorScale.format) == ["0.001", "0.005", "0.25", "0.5"])
}
