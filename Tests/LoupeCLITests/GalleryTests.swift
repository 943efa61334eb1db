import Foundation
import LoupeModel
import Testing

/// A small gallery over the tiny llama checkpoint (two blocks): fast enough
/// to render several times per test, and it exercises everything a big one
/// does.
struct TinyGallery {
    let folder: String
    var spec: String { folder + "/gallery.yml" }
    var out: String { folder + "/out" }

    init(figures: String = TinyGallery.figures, formats: String = "[png, svg, pdf]") throws {
        folder = try Paths.temporaryFolder()
        try """
        title: Tiny overview
        prompt: "a b c a b c"
        layout: {columns: 2, width: 6in}
        panels:
          - view: logit-lens
            span: 2
          - view: attention
            options: {mode: head, layer: 1, head: 0}
          - view: attention
            options: {mode: scores, score: previous-token}
        """.write(toFile: folder + "/overview.yml", atomically: true, encoding: .utf8)
        try """
        title: Tiny gallery
        models:
          - name: tiny
            path: \(Paths.tinyGGUF)
        prompts:
          - name: abc
            text: "a b c a b c"
            about: repeated letters
          - name: ids
            ids: [0, 5, 6, 7, 5, 6, 7]
        formats: \(formats)
        latex: true
        figures:
        \(figures)
        dashboards:
          - name: overview
            spec: overview.yml
            prompts: [abc]
        """.write(toFile: spec, atomically: true, encoding: .utf8)
    }

    static let figures = """
          - name: lens
            view: logit-lens
            prompts: all
          - name: head
            view: attention
            prompts: [abc]
            options: {mode: head, layer: 1, head: 0, annotate: true}
        """

    func run(_ extra: [String] = []) throws -> Loupe.Output {
        try Loupe.run(["gallery", spec, "--out", out, "--jobs", "2"] + extra)
    }

    /// The manifest's figures by id.
    func manifest() throws -> [String: [String: Any]] { try Self.manifest(out) }

    static func manifest(_ out: String) throws -> [String: [String: Any]] {
        let data = try #require(FileManager.default.contents(atPath: out + "/manifest.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let figures = try #require(root["figures"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: figures.map { ($0["id"] as! String, $0) })
    }

    func status(_ m: [String: [String: Any]]) -> [String: String] { m.mapValues { $0["status"] as? String ?? "?" } }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }
}

@Suite(.serialized) struct GalleryTests {
    @Test func rendersEverythingThenSkipsWhatIsUnchanged() throws {
        let g = try TinyGallery()
        defer { g.remove() }
        let first = try g.run()
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == g.out + "/index.html")
        // Progress is plain lines when standard error is not a terminal.
        #expect(first.stderr.contains("[1/4] rendered"), "\(first.stderr)")
        let m = try g.manifest()
        #expect(g.status(m) == ["lens/abc": "rendered", "lens/ids": "rendered", "head/abc": "rendered", "dashboards/overview/abc": "rendered"])
        for name in ["lens/abc", "lens/ids", "head/abc"] {
            for ext in ["png", "svg", "pdf", "json", "tex"] {
                #expect(FileManager.default.fileExists(atPath: "\(g.out)/\(name).\(ext)"), "\(name).\(ext)")
            }
        }
        // The manifest carries each figure's view, prompt, complete options and files.
        let head = try #require(m["head/abc"])
        #expect(head["view"] as? String == "attention")
        #expect(head["prompt_text"] as? String == "a b c a b c")
        let options = try #require(head["options"] as? [String: Any])
        #expect(options["layer"] as? Int == 1 && options["annotate"] as? Bool == true && options["colormap"] as? String == "viridis")
        #expect((head["files"] as? [String: String])?["pdf"] == "head/abc.pdf")
        // The dashboard: an HTML page, the whole page, and every panel's files.
        for f in ["dashboards/overview/abc.html", "dashboards/overview/abc_files/page.pdf", "dashboards/overview/abc_files/a-logit-lens.png",
                  "dashboards/overview/abc_files/c-attention.svg", "dashboards/overview/abc_files/b-attention.json"] {
            #expect(FileManager.default.fileExists(atPath: "\(g.out)/\(f)"), "\(f)")
        }
        let index = try String(contentsOfFile: g.out + "/index.html", encoding: .utf8)
        #expect(index.contains("href=\"lens/abc.pdf\"") && index.contains("src=\"head/abc.png\"") && index.contains("dashboards/overview/abc.html"))

        // Nothing changed: nothing is drawn again, and the files stay as they were.
        let before = try FileManager.default.attributesOfItem(atPath: g.out + "/lens/abc.png")[.modificationDate] as? Date
        let second = try g.run()
        #expect(second.status == 0, "\(second.stderr)")
        #expect(g.status(try g.manifest()).values.allSatisfy { $0 == "skipped" }, "\(second.stderr)")
        #expect(try FileManager.default.attributesOfItem(atPath: g.out + "/lens/abc.png")[.modificationDate] as? Date == before)

        // A changed option renders that figure alone again.
        let spec = try String(contentsOfFile: g.spec, encoding: .utf8)
        try spec.replacingOccurrences(of: "head: 0, annotate: true", with: "head: 1, annotate: true").write(toFile: g.spec, atomically: true, encoding: .utf8)
        _ = try g.run()
        #expect(g.status(try g.manifest()) == ["lens/abc": "skipped", "lens/ids": "skipped", "head/abc": "rendered", "dashboards/overview/abc": "skipped"])

        // --only with --force: just the matching figures, the others keep their entries.
        let only = try g.run(["--only", "lens/*", "--force"])
        #expect(only.status == 0, "\(only.stderr)")
        let m3 = try g.manifest()
        #expect(g.status(m3)["lens/abc"] == "rendered" && g.status(m3)["lens/ids"] == "rendered")
        #expect(m3.count == 4, "figures not selected keep their manifest entries")
        let none = try g.run(["--only", "nothing/*"])
        #expect(none.status != 0 && none.stderr.contains("matches no figure"), "\(none.stderr)")
    }

    @Test func aFailingFigureDoesNotStopTheOthers() throws {
        let g = try TinyGallery(figures: TinyGallery.figures + """

              - name: broken
                view: attention
                prompts: all
                options: {mode: head, layer: 7}
            """)
        defer { g.remove() }
        let r = try g.run()
        #expect(r.status != 0)
        #expect(r.stderr.contains("2 failed"), "\(r.stderr)")
        #expect(r.stderr.contains("broken/abc: view 'attention': layer 7 is out of range"), "\(r.stderr)")
        #expect(r.stderr.contains("broken/ids:"), "\(r.stderr)")
        let m = try g.manifest()
        #expect(g.status(m)["lens/abc"] == "rendered" && g.status(m)["dashboards/overview/abc"] == "rendered")
        #expect(g.status(m)["broken/abc"] == "failed")
        #expect((m["broken/abc"]?["error"] as? String)?.contains("out of range") == true)
        #expect(!FileManager.default.fileExists(atPath: g.out + "/broken/abc.png"))
        let index = try String(contentsOfFile: g.out + "/index.html", encoding: .utf8)
        #expect(index.contains("broken/abc") && index.contains("out of range"))
    }

    @Test func severalThemesAndModelsNameTheirFiles() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try """
        models:
          - {name: gguf, path: \(Paths.tinyGGUF)}
          - {name: hf, path: \(Paths.tinyLlama)}
        prompts:
          - {name: abc, text: "a b c"}
        themes: [light, dark]
        figures:
          - {name: lens, view: logit-lens, prompts: all}
        """.write(toFile: folder + "/g.yml", atomically: true, encoding: .utf8)
        let r = try Loupe.run(["gallery", folder + "/g.yml", "--out", folder + "/out"])
        #expect(r.status == 0, "\(r.stderr)")
        for leaf in ["abc.gguf.light", "abc.gguf.dark", "abc.hf.light", "abc.hf.dark"] {
            #expect(FileManager.default.fileExists(atPath: "\(folder)/out/lens/\(leaf).png"), "\(leaf)")
        }
        // One analysis serves both themes; the same checkpoint in two formats gives the same numbers.
        func data(_ leaf: String) throws -> String {
            let json = try String(contentsOfFile: "\(folder)/out/lens/\(leaf).json", encoding: .utf8)
            return String(json[try #require(json.range(of: "\"data\"")).lowerBound...].prefix(2000))
        }
        #expect(try data("abc.gguf.light") == data("abc.gguf.dark"))
        let index = try String(contentsOfFile: folder + "/out/index.html", encoding: .utf8)
        #expect(index.contains("hf · dark"))
    }

    @Test func referencesAndPromptSetContents() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let topics = (0 ..< 8).map { i in "{\"topic\": \"\(i % 2 == 0 ? "letters" : "digits")\", \"text\": \"\(i % 2 == 0 ? "a b c d" : "1 2 3 4") \(i)\"}" }
        try topics.joined(separator: "\n").write(toFile: folder + "/topics.jsonl", atomically: true, encoding: .utf8)
        try """
        models:
          - {name: tiny, path: \(Paths.tinyGGUF)}
        prompts:
          - {name: abc, text: "a b c"}
        prompt_sets:
          - {name: topics, path: topics.jsonl}
        figures:
          - name: clusters
            view: neuron-clusters
            prompt_set: topics
            options: {layer: 1, neurons: 8, clusters: 2}
          - name: dream
            view: text-deep-dream
            prompts: [abc]
            options: {layer: "${clusters.layer}", neuron: "${clusters.C1.neuron}", steps: 2, positions: 2, show: 2}
        """.write(toFile: folder + "/g.yml", atomically: true, encoding: .utf8)
        let run = { try Loupe.run(["gallery", folder + "/g.yml", "--out", folder + "/out"]) }
        let first = try run()
        #expect(first.status == 0, "\(first.stderr)")
        let m = try TinyGallery.manifest(folder + "/out")
        // The dream's options hold the values the clustering exported.
        let clusters = try #require(FileManager.default.contents(atPath: folder + "/out/clusters/all.json"))
        let data = try #require((try JSONSerialization.jsonObject(with: clusters) as? [String: Any])?["data"] as? [String: Any])
        let neurons = try #require(data["neurons"] as? [[String: Any]]).compactMap { $0["neuron"] as? Int }
        let options = try #require(m["dream/abc"]?["options"] as? [String: Any])
        #expect(options["layer"] as? Int == 1)
        let neuron = try #require(options["neuron"] as? Int)
        #expect(neurons.contains(neuron))
        // The index says what the references resolved to.
        #expect(try String(contentsOfFile: folder + "/out/index.html", encoding: .utf8).contains("layer=1  neuron=\(neuron)"))
        // Its heading shows each reference with its value, and no reference stands alone.
        func headingResolved() throws -> Bool {
            let page = try String(contentsOfFile: folder + "/out/index.html", encoding: .utf8)
            let stripped = page.replacingOccurrences(of: #"\(\$\{[^}]*\}\)"#, with: "", options: .regularExpression)
            return page.contains("layer=1 (${clusters.layer})") && page.contains("neuron=\(neuron) (${clusters.C1.neuron})") && !stripped.contains("${")
        }
        #expect(try headingResolved())
        // Editing the prompt set renders the clusters, and so the dream, again.
        #expect(try run().status == 0)
        #expect(try headingResolved(), "an unchanged gallery shows the references unresolved")
        #expect(try TinyGallery.manifest(folder + "/out").values.allSatisfy { $0["status"] as? String == "skipped" })
        try (topics + ["{\"topic\": \"digits\", \"text\": \"5 6 7 8\"}"]).joined(separator: "\n")
            .write(toFile: folder + "/topics.jsonl", atomically: true, encoding: .utf8)
        #expect(try run().status == 0)
        #expect(try TinyGallery.manifest(folder + "/out")["clusters/all"]?["status"] as? String == "rendered")
    }

    @Test func everyProblemInASpecIsReportedAtOnce() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let spec = folder + "/bad.yml"
        try """
        title: Bad
        models:
          - name: tiny
            path: \(Paths.tinyGGUF)
        prompts:
          - name: abc
            text: "a b c"
        formats: [png, gif]
        figures:
          - name: lens
            view: logit-lense
          - name: head
            view: attention
            prompts: [abc, xyz]
            options: {mode: heads, layr: 1}
          - name: clusters
            view: neuron-clusters
            prompt_set: nowhere
          - name: dream
            view: text-deep-dream
            prompts: [abc]
            options: {steps: 5000}
        colour: red
        """.write(toFile: spec, atomically: true, encoding: .utf8)
        let r = try Loupe.run(["gallery", spec, "--out", folder + "/out"])
        #expect(r.status != 0)
        let expected = [
            "bad.yml:8: format 'gif' is not one of png, svg, pdf",
            "bad.yml:11: figure 'lens': unknown view 'logit-lense'",
            "did you mean 'logit-lens'?",
            "bad.yml:14: no prompt named 'xyz' (prompts: abc)",
            "bad.yml:15: view 'attention' option 'mode': 'heads' is not one of head, grid, scores",
            "bad.yml:15: figure 'head' (attention) options has no key 'layr'",
            "did you mean 'layer'?",
            "bad.yml:18: no prompt set named 'nowhere'",
            // Declared ranges are checked as the spec is read, not when the dream runs.
            "bad.yml:22: view 'text-deep-dream' option 'steps': '5000' is not a whole number from 1 to 2000",
            "bad.yml:23: the gallery has no key 'colour'",
        ]
        for e in expected { #expect(r.stderr.contains(e), "missing «\(e)» in:\n\(r.stderr)") }
        #expect(r.stderr.contains("8 problems in"), "\(r.stderr)")
        // Nothing was written: the spec is checked before any work.
        #expect(!FileManager.default.fileExists(atPath: folder + "/out"))
    }

    @Test func dashboardPageWithLaTeXSnippet() throws {
        let g = try TinyGallery()
        defer { g.remove() }
        let pdf = g.folder + "/page.pdf"
        let r = try Loupe.run(["dashboard", g.folder + "/overview.yml", "--model", Paths.tinyGGUF, "-o", pdf, "--latex"])
        #expect(r.status == 0, "\(r.stderr)")
        let head = try #require(FileManager.default.contents(atPath: pdf)).prefix(5)
        #expect(String(decoding: head, as: UTF8.self) == "%PDF-")
        let tex = try String(contentsOfFile: g.folder + "/page.tex", encoding: .utf8)
        // At its own width, or the column's where that is narrower.
        #expect(tex.contains("\\includegraphics[width=\\ifdim\\linewidth<6.00in \\linewidth\\else 6.00in\\fi]{page.pdf}"), "\(tex)")
        #expect(tex.contains("6.00 in ×"), "\(tex)")
        // render --latex, and --latex without a PDF.
        let fig = g.folder + "/lens.pdf"
        let lens = try Loupe.run(["render", "logit-lens", "--model", Paths.tinyGGUF, "--prompt", "a b c", "--width", "3.25in", "-o", fig, "--latex"])
        #expect(lens.status == 0, "\(lens.stderr)")
        #expect(try String(contentsOfFile: g.folder + "/lens.tex", encoding: .utf8).contains("\\includegraphics[width=\\ifdim\\linewidth<3.25in \\linewidth\\else 3.25in\\fi]{lens.pdf}"))
        let png = try Loupe.run(["render", "logit-lens", "--model", Paths.tinyGGUF, "--prompt", "a b c", "-o", g.folder + "/x.png", "--latex"])
        #expect(png.status != 0 && png.stderr.contains("--latex goes with PDF output"), "\(png.stderr)")
    }

    @Test func dashboardSpecProblems() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let spec = folder + "/d.yml"
        try """
        prompt: "a b c"
        layout: {columns: 2, width: 6 inches}
        panels:
          - view: attention
            span: 3
          - options: {mode: grid}
        """.write(toFile: spec, atomically: true, encoding: .utf8)
        let r = try Loupe.run(["dashboard", spec, "--model", Paths.tinyGGUF, "-o", folder + "/d.pdf"])
        #expect(r.status != 0)
        for e in ["d.yml:2: layout width '6 inches' is not a length", "d.yml:5: panel (a) span must be a whole number from 1 to 2, not '3'",
                  "d.yml:6: panel (b) needs 'view'"] {
            #expect(r.stderr.contains(e), "missing «\(e)» in:\n\(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/d.pdf"))
    }
}

/// The default model's dashboard page: tooltips come from each view's hit regions.
@Suite struct DashboardPageTests {
    @Test func hitRegionsCarryTheNumbers() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try """
        title: Eiffel
        prompt: "The Eiffel Tower is located in the city of"
        layout: {columns: 2, width: 10in}
        panels:
          - view: logit-lens
          - view: attention
            options: {mode: head, layer: 18, head: 6}
        """.write(toFile: folder + "/d.yml", atomically: true, encoding: .utf8)
        let html = folder + "/d.html"
        let r = try Loupe.run(["dashboard", folder + "/d.yml", "--format", "html", "-o", html])
        #expect(r.status == 0, "\(r.stderr)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        // Each panel's hit regions are JSON in a script element.
        let blocks = page.components(separatedBy: "<script type=\"application/json\" class=\"hits\">").dropFirst()
            .map { String($0.prefix { $0 != "<" }) }
        #expect(blocks.count == 2)
        struct Hit: Decodable { let x, y, width, height: Double; let title: String; let lines: [String] }
        let lens = try JSONDecoder().decode([Hit].self, from: Data(blocks[0].utf8))
        let head = try JSONDecoder().decode([Hit].self, from: Data(blocks[1].utf8))
        // Logit lens: 31 rows (embedding + 30 blocks) × 11 positions (BOS and ten tokens), top-5 tokens with probabilities.
        #expect(lens.count == 31 * 11)
        let last = try #require(lens.first { $0.title == "block 29 · position 10 ␣of" })
        #expect(last.lines.count >= 5)
        #expect(last.lines[0].hasPrefix("␣Paris  0."), "\(last.lines)")
        #expect(last.lines[1 ..< 5].allSatisfy { $0.range(of: #"  0\.\d{3}$"#, options: .regularExpression) != nil }, "\(last.lines)")
        // Attention head: a weight and the two tokens, for the 11·12/2 cells on or below the diagonal.
        #expect(head.count == 11 * 12 / 2)
        let cell = try #require(head.first { $0.lines == ["query 10: ␣of", "key 0: <|im_start|>"] })
        #expect(cell.title.range(of: #"^weight 0\.\d{3}$"#, options: .regularExpression) != nil, "\(cell.title)")
        // Regions are inside their figure and do not overlap (beyond 0.02 pt:
        // their edges are rounded to 0.01 pt in the page).
        for hits in [lens, head] {
            #expect(hits.allSatisfy { $0.width > 0 && $0.height > 0 && $0.x >= 0 && $0.y >= 0 })
            var overlaps: [String] = []
            for (i, a) in hits.enumerated() {
                for b in hits[(i + 1)...] where min(a.x + a.width, b.x + b.width) - max(a.x, b.x) > 0.02
                    && min(a.y + a.height, b.y + b.height) - max(a.y, b.y) > 0.02 {
                    overlaps.append("\(a.title) / \(b.title)")
                }
            }
            #expect(overlaps.count == 0, "for example \(overlaps.prefix(3))")
        }
    }
}
