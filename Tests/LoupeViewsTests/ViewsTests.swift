@testable import Attention
import Foundation
import LogitLens
import LoupeCore
import LoupeModel
import LoupeRender
import LoupeTestSupport
import LoupeViews
@testable import NeuronClusters
import TextDeepDream
import Testing

enum Paths {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let plugins = tests.deletingLastPathComponent().appendingPathComponent("Plugins").path
    static let internals = tests.appendingPathComponent("LoupeModelTests/Fixtures/reference/smollm2/internals.json").path
}

let smollm2: Result<Model, any Error> = Result { try Model.load(nil) }

/// Analyses and draws a view as `loupe render` does; returns the PNG and the record.
/// On the default model the analysis of one (view, prompt, options) is made
/// once per test run and shared (`SharedAnalyses`): several suites draw
/// each view's example, and activation patching takes seconds.
func render(_ id: String, prompt: String, ids: [Int]? = nil, options: [String: String] = [:], theme: Theme = .light,
            width: Double? = nil, model given: Model? = nil) throws -> (png: Data, record: FigureRecord) {
    let model = try given ?? smollm2.get()
    let view = try BuiltinViews.registry.view(id)
    // A view that reads no prompt runs on BOS alone, as `loupe render` runs it.
    let noPrompt = !view.info.usesPrompt && prompt.isEmpty
    func analyze() throws -> FigureRecord {
        let input = try AnalysisInput(model: model, prompt: prompt, ids: ids ?? (noPrompt ? [model.tokenizer.bosId ?? 0] : model.tokenize(prompt)),
                                      hooks: view.info.hookFilter)
        return try FigurePipeline.analyze(view, input: input, options: try view.resolveOptions(options))
    }
    let key = "\(id)\u{0}\(prompt)\u{0}\(ids ?? [])\u{0}\(options.sorted { $0.key < $1.key })"
    let record = given == nil ? try SharedAnalyses.shared.record(key, analyze) : try analyze()
    return (try drawPNG(record, view: view, theme: theme, width: width), record)
}

/// The committed record of golden `name` decoded as `loupe redraw` would,
/// after `change` to one field of its data: "" when accepted, else the error.
/// The record as committed must be accepted.
func decodeChanged<T>(_ view: RegisteredView, golden name: String, field: String, _ change: (inout T) -> Void) throws -> String {
    let committed = try Data(contentsOf: Paths.tests.appendingPathComponent("LoupeViewsTests/__Snapshots__/\(name).json"))
    _ = try view.decodeRecord(committed)
    var record = try #require(try JSONSerialization.jsonObject(with: committed) as? [String: Any])
    var data = try #require(record["data"] as? [String: Any])
    var value = try #require(data[field] as? T, "data.\(field)")
    change(&value)
    data[field] = value
    record["data"] = data
    do { _ = try view.decodeRecord(try JSONSerialization.data(withJSONObject: record)); return "" } catch { return "\(error)" }
}

/// Records of the default model's analyses, made once per key; a second
/// test asking for a key being made waits for it.
final class SharedAnalyses: @unchecked Sendable {
    static let shared = SharedAnalyses()
    private let lock = NSLock()
    private var making: [String: NSLock] = [:]
    private var records: [String: FigureRecord] = [:]

    func record(_ key: String, _ make: () throws -> FigureRecord) throws -> FigureRecord {
        let keyLock = lock.withLock {
            if let l = making[key] { return l }
            let l = NSLock()
            making[key] = l
            return l
        }
        keyLock.lock()
        defer { keyLock.unlock() }
        if let done = lock.withLock({ records[key] }) { return done }
        let made = try make()
        lock.withLock { records[key] = made }
        return made
    }
}

/// A golden of drawing: the figure drawn from the record committed beside the
/// golden (`__Snapshots__/NAME.json`), never from the live analysis, which
/// depends on the CPU's BLAS kernels (a deep dream's trajectory, a k-means
/// clustering and its tags can change with the summation order). The live
/// analysis is checked numerically by each test. Recording a golden
/// (`LOUPE_RECORD_GOLDENS=NAME`) writes the live record as its data first.
/// Goldens drawn from the same analysis in several themes share one `data` file.
func checkDrawing(_ live: FigureRecord, named name: String, data: String? = nil, theme: Theme = .light, width: Double? = nil) throws {
    let view = try BuiltinViews.registry.view(live.view)
    let dataFile = Paths.tests.appendingPathComponent("LoupeViewsTests/__Snapshots__/\(data ?? name).json").path
    if Golden.records(name) { try view.encodeRecord(live).write(to: URL(fileURLWithPath: dataFile)) }
    guard let committed = FileManager.default.contents(atPath: dataFile) else {
        Issue.record("no data for golden '\(name)' ('\(dataFile)'): run the tests with LOUPE_RECORD_GOLDENS=\(name) to record it")
        return
    }
    try Golden.check(try drawPNG(try view.decodeRecord(committed), view: view, theme: theme, width: width), named: name)
}

/// Draws a record as `loupe render` and `loupe redraw` do, at 100 dpi.
func drawPNG(_ record: FigureRecord, view: RegisteredView, theme: Theme = .light, width: Double? = nil) throws -> Data {
    let id = view.info.id
    let style = FigureStyle(theme: theme, width: width, dpi: 100)
    // The view's own drawing: the model line below it is tested on its own (ModelLineTests).
    let size = try FigurePipeline.layout(of: record, view: view, style: style).view.size
    let png = try FigureWriter.png(size: size, dpi: style.dpi, metadata: FigureMetadata(title: id, software: "tests")) { canvas in
        canvas.fill(Rect(origin: Point(0, 0), size: size), theme.background)
        try view.draw(record.data, record.options, canvas, Rect(origin: Point(0, 0), size: size), theme)
    }
    return png
}

/// Every view on every model family: the view's example, with the settings
/// that name SmolLM2's blocks moved to the small checkpoint's last block,
/// its tokens replaced by the checkpoint's own, a short dream, and a small
/// neuron sample. No goldens: the check is that
/// each analysis and drawing succeeds on each family and its figure is a
/// real PNG with finite data.
@Suite struct FamilyViewTests {
    static let root = Paths.tests.appendingPathComponent("LoupeModelTests/Fixtures/reference/families").path
    static let families = ["llama3-rope", "llama-linear-rope", "mistral", "qwen2", "pythia", "gpt-neox-sequential",
                           "gemma", "gemma2", "phi3"]

    @Test(arguments: families)
    func everyViewRenders(family: String) throws {
        let model = try Model(path: Self.root + "/" + family)
        for id in BuiltinViews.registry.ids {
            let view = try BuiltinViews.registry.view(id)
            var options = view.info.example.options
            let names = Set(view.info.options.map(\.name))
            if names.contains("layer") { options["layer"] = String(model.config.layers - 1) }
            if names.contains("head") { options["head"] = "1" }
            if names.contains("neuron") { options["neuron"] = "7" }
            if names.contains("neurons") { options["neurons"] = "12" }
            if names.contains("clusters") { options["clusters"] = "3" }
            if names.contains("steps") { options["steps"] = "4"; options["show"] = "2" }
            // The example names SmolLM2's tokens; here two of the prompt's own, by id.
            let distinct = Array(Set(model.tokenize(view.info.example.prompt))).sorted()
            if options["target"] != nil { options["target"] = "id:\(distinct[0])" }
            if options["counterfactual"] != nil { options["counterfactual"] = "id:\(distinct[1])" }
            if names.contains("corrupted") { options.merge(try Self.patchingPair(model, view.info.example.prompt)) { $1 } }
            let (png, record) = try render(id, prompt: view.info.example.prompt, options: options, model: model)
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(family) \(id): not a PNG")
            #expect(png.count > 1000, "\(family) \(id): an empty figure")
            let json = String(decoding: try view.encodeRecord(record), as: UTF8.self)
            #expect(!json.contains("NaN") && !json.contains("Infinity"), "\(family) \(id): non-finite data")
        }
    }
}

extension FamilyViewTests {
    /// A corrupted prompt of as many tokens as `prompt` on this checkpoint
    /// (one word changed), with the target and counterfactual whose logit
    /// difference the runs disagree on most: the tokens whose logit the
    /// change lowers most and raises most.
    static func patchingPair(_ model: Model, _ prompt: String) throws -> [String: String] {
        let clean = model.tokenize(prompt)
        let a = try #require(try model.forward(clean, hooks: .none).logits).row(clean.count - 1)
        var best: (gap: Float, corrupted: String, target: Int, counterfactual: Int)?
        for (word, other) in [("store", "shore"), ("drink", "drank"), ("Mary", "Mark"), ("John", "Joan"), ("gave", "gives"), ("to", "at")] {
            let corrupted = prompt.replacingOccurrences(of: word, with: other), ids = model.tokenize(corrupted)
            guard ids.count == clean.count else { continue }
            let b = try #require(try model.forward(ids, hooks: .none).logits).row(clean.count - 1)
            let change = zip(a, b).map { $0 - $1 }
            let target = change.indices.max { change[$0] < change[$1] }!, counterfactual = change.indices.min { change[$0] < change[$1] }!
            if change[target] - change[counterfactual] > best?.gap ?? 0 {
                best = (change[target] - change[counterfactual], corrupted, target, counterfactual)
            }
        }
        let found = try #require(best, "no one-word change keeps the prompt's \(clean.count) tokens")
        return ["corrupted": found.corrupted, "target": "id:\(found.target)", "counterfactual": "id:\(found.counterfactual)"]
    }

    /// In a sliding-window block, keys outside the window are masked in the
    /// figure like later keys, and head scores count only queries that can
    /// see the key they measure: the first-token score of Mistral's window-5
    /// heads is the mean over queries 1–4 of their weight on position 0.
    @Test func slidingWindowsInAttention() throws {
        let model = try Model(path: Self.root + "/mistral")
        let prompt = "The cat sat on the mat, and then it sat on the hat."
        let (_, record) = try render("attention", prompt: prompt, options: ["mode": "scores", "score": "first-token"], model: model)
        let data = try #require(record.data as? AttentionView.Data)
        #expect(data.windows == [5, 5])
        let ids = model.tokenize(prompt)
        #expect(ids.count > 10)
        let pattern = try #require(try model.forward(ids).cache[.pattern(1)]).data
        let t = ids.count
        let expected = (1 ..< 5).map { q in Double(pattern[(0 * t + q) * t]) }.reduce(0, +) / 4
        let score = try #require(data.scores?[1][0])
        #expect(abs(score - expected) < 1e-6, "first-token score \(score), expected \(expected)")
        #expect(!data.visible(block: 1, query: 9, key: 4) && data.visible(block: 1, query: 9, key: 5))
    }
}

@Suite struct RegistryTests {
    /// Every folder under Plugins/ is a module whose `<Folder>View` is in the built-in list.
    @Test func everyPluginFolderIsRegistered() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Paths.plugins).filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: Paths.plugins + "/" + $0, isDirectory: &isDir) && isDir.boolValue
        }
        #expect(!folders.isEmpty)
        let registered = Set(BuiltinViews.plugins.map { String(describing: $0) })
        for folder in folders {
            #expect(registered.contains(folder + "View"), "Plugins/\(folder) is not listed in BuiltinViews.plugins")
        }
        #expect(Set(BuiltinViews.registry.ids).count == BuiltinViews.plugins.count, "view ids are unique")
    }

    /// Each view's own example renders, and its golden image matches.
    @Test(arguments: BuiltinViews.registry.ids)
    func exampleRenders(id: String) throws {
        let view = try BuiltinViews.registry.view(id)
        let (live, record) = try render(id, prompt: view.info.example.prompt, options: view.info.example.options)
        #expect(live.starts(with: [0x89, 0x50, 0x4E, 0x47]) && live.count > 1000)
        #expect(record.view == id)
        try checkDrawing(record, named: "example-\(id)")
        // Every option documented has a default that resolves.
        for doc in view.info.options where doc.kind != .string {
            _ = try view.resolveOptions([doc.name: doc.defaultValue])
        }
        // ...and the documented defaults, all given, are the options `Options()` holds.
        let documented = Dictionary(uniqueKeysWithValues: view.info.options.map { ($0.name, $0.defaultValue) })
        let given = String(decoding: try view.optionsJSON(try view.resolveOptions(documented)), as: UTF8.self)
        let defaults = String(decoding: try view.optionsJSON(try view.resolveOptions([:])), as: UTF8.self)
        #expect(given == defaults, "\(id): documented defaults \(given), Options() \(defaults)")
    }

    @Test func optionErrorsNameTheViewKeyAndAllowedValues() throws {
        let view = try BuiltinViews.registry.view("logit-lens")
        #expect { try view.resolveOptions(["colour": "viridis"]) } throws: {
            "\($0)".contains("view 'logit-lens' has no option 'colour'") && "\($0)".contains("did you mean 'colormap'?")
        }
        #expect { try view.resolveOptions(["metric": "accuracy"]) } throws: {
            "\($0)" == "view 'logit-lens' option 'metric': 'accuracy' is not one of top-prob, target-prob, target-rank, target-logit, entropy, kl-final"
        }
        #expect { try view.resolveOptions(["stride": "two"]) } throws: { "\($0)".contains("'two' is not a whole number from 1 to 4096") }
        #expect { try view.resolveOptions(["stride": "0"]) } throws: {
            "\($0)" == "view 'logit-lens' option 'stride': '0' is not a whole number from 1 to 4096"
        }
        // A diverging map is not offered for magnitudes.
        #expect { try view.resolveOptions(["colormap": "rdbu"]) } throws: { "\($0)".contains("'rdbu' is not one of viridis, magma, cividis") }
        #expect { try BuiltinViews.registry.view("logit-len") } throws: { "\($0)".contains("did you mean 'logit-lens'?") }
    }

    /// The record written beside a figure reads back to the same options and data.
    @Test func recordsRoundTrip() throws {
        let (_, record) = try render("attention", prompt: "one two one two", options: ["mode": "scores", "annotate": "true"])
        let view = try BuiltinViews.registry.view("attention")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-views-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for format in FigureFormat.allCases {
            let path = folder + "/fig." + format.rawValue
            try FigurePipeline.write(record, view: view, to: path, format: format, style: FigureStyle(theme: .paper, width: 3.25 * 72))
            #expect(FileManager.default.fileExists(atPath: path))
        }
        let (back, backView) = try FigurePipeline.readRecord(folder + "/fig.json", registry: BuiltinViews.registry)
        #expect(backView.info.id == "attention")
        #expect(try view.encodeRecord(back) == view.encodeRecord(record))
        #expect(back.ids == record.ids && back.prompt == "one two one two" && back.model == record.model)
    }
}

@Suite struct LogitLensTests {
    /// On the reference prompts, the lens's top-5 ids and probabilities agree
    /// with reference B's logit lens (the same tolerance as the runtime test:
    /// ids where the reference's probabilities are separated by over 1e-4).
    @Test func agreesWithTheReference() throws {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Paths.internals))) as? [String: Any])
        let prompts = try #require(json["prompts"] as? [[String: Any]])
        let model = try smollm2.get()
        for p in prompts {
            let ids = try #require(p["ids"] as? [Int])
            let input = try AnalysisInput(model: model, prompt: p["name"] as? String ?? "", ids: ids)
            let data = try LogitLensView().analyze(input, options: LogitLensView.Options())
            let lens = try #require(p["logit_lens"] as? [String: Any])
            let refIds = try #require(lens["ids"] as? [[[Int]]]), refProbs = try #require(lens["probs"] as? [[[Double]]])
            #expect(data.layers == Array(0 ... 30))
            for l in 0 ... 30 {
                for t in 0 ..< ids.count {
                    for r in 0 ..< 5 {
                        #expect(abs(data.topProbs[l][t][r] - refProbs[l][t][r]) <= 1e-4)
                        let separated = (r == 0 || refProbs[l][t][r - 1] - refProbs[l][t][r] > 1e-4) && (r == 4 || refProbs[l][t][r] - refProbs[l][t][r + 1] > 1e-4)
                        if separated { #expect(data.topIds[l][t][r] == refIds[l][t][r], "layer \(l) position \(t) rank \(r)") }
                    }
                }
            }
        }
    }

    @Test func metricsStrideRangeAndFlip() throws {
        let prompt = "The Eiffel Tower is located in the city of"
        for metric in LogitLensView.Metric.allCases {
            let (_, record) = try render("logit-lens", prompt: prompt, options: ["metric": metric.rawValue, "stride": "4", "first": "2", "last": "-2", "flip": "true"])
            let data = try #require(record.data as? LogitLensView.Data)
            #expect(data.layers == [0, 4, 8, 12, 16, 20, 24, 28, 30], "the last layer is always kept")
            #expect(data.positions.first == 2 && data.positions.last == data.tokens.count + 1)
            #expect(data.values.count == data.layers.count)
            if metric == .targetRank { #expect(data.values.joined().compactMap { $0 }.allSatisfy { $0 >= 1 }) }
            if metric == .klFinal { #expect(data.values.last!.allSatisfy { abs($0 ?? 1) < 1e-6 }, "KL of the final layer to itself") }
            try checkDrawing(record, named: "logit-lens-\(metric.rawValue)")
        }
    }

    /// A named target is followed at every position, the last included: the
    /// final row's probability, rank and logit of " Paris" are the model's
    /// own (its logits through a plain forward pass: the lens's last row is
    /// the same final norm and unembedding, to float rounding, 1e-5).
    @Test func namedTargetAtEveryPosition() throws {
        let prompt = "The Eiffel Tower is located in the city of"
        let model = try smollm2.get()
        let paris = model.tokenizer.encode(" Paris")
        #expect(paris.count == 1)
        let ids = model.tokenize(prompt)
        let logits = try #require(try model.forward(ids, hooks: .none).logits).row(ids.count - 1).map(Double.init)
        let top = logits.max()!
        let lse = log(logits.reduce(0) { $0 + exp($1 - top) }) + top
        let expected: [LogitLensView.Metric: Double] = [
            .targetProb: exp(logits[paris[0]] - lse), .targetLogit: logits[paris[0]],
            .targetRank: Double(1 + logits.filter { $0 > logits[paris[0]] }.count)]
        for (metric, value) in expected {
            for target in [" Paris", "id:\(paris[0])"] {
                let (_, record) = try render("logit-lens", prompt: prompt, options: ["metric": metric.rawValue, "target": target])
                let data = try #require(record.data as? LogitLensView.Data)
                #expect(data.target?.id == paris[0])
                #expect(data.values.allSatisfy { row in row.allSatisfy { $0 != nil } }, "\(metric): a value at every position")
                let last = try #require(data.values.last?.last ?? nil)
                #expect(abs(last - value) <= 1e-5 * max(1, abs(value)), "\(metric) \(target): \(last), expected \(value)")
            }
        }
        // Without a target the true next token is followed: nothing after the last position.
        let (_, plain) = try render("logit-lens", prompt: prompt, options: ["metric": "target-prob"])
        #expect((plain.data as? LogitLensView.Data)?.values.allSatisfy { $0.last! == nil } == true)
    }

    /// The trajectory: the chosen positions' metric by layer, rank on a log
    /// axis; without the embedding row, the rows start at block 0's output.
    @Test func trajectoryOfTheTarget() throws {
        let prompt = "The Eiffel Tower is located in the city of"
        let (_, record) = try render("logit-lens", prompt: prompt, options: ["mode": "trajectory", "metric": "target-rank", "target": " Paris",
                                                                             "positions": "-1, 5,-1", "embedding": "false"])
        let data = try #require(record.data as? LogitLensView.Data)
        let t = try smollm2.get().tokenize(prompt).count
        #expect(data.mode == .trajectory && data.positions == [t - 1, 5] && data.layers == Array(1 ... 30))
        #expect(data.values.last?.first == 1, "the model's own top-1 is Paris")
        // A hover band per layer, side by side across the plot, each with every position's rank.
        let view = try BuiltinViews.registry.view("logit-lens")
        let frame = Rect(origin: Point(0, 0), size: try FigurePipeline.layout(of: record, view: view, style: FigureStyle(dpi: 100)).view.size)
        let hits = try view.hitRegions(record.data, record.options, frame, .light, try Canvas.measuring())
        #expect(hits.count == 30 && hits.first?.title.hasPrefix("block 0 · ") == true, "\(hits.first?.title ?? "")")
        #expect(zip(hits, hits.dropFirst()).allSatisfy { abs($0.x + $0.width - $1.x) < 0.01 })
        #expect(hits.last?.lines.first == "position \(t - 1) ␣of: 1", "\(hits.last?.lines ?? [])")
        try checkDrawing(record, named: "logit-lens-trajectory")
    }

    /// A long prompt renders at the default settings: past 20 in the cells
    /// narrow (at 100 dpi, at most 2 000 px wide) instead of the figure
    /// growing past what a raster can hold.
    @Test func longPromptsRenderAtTheDefaults() throws {
        let prompt = (0 ..< 50).map { "word\($0)" }.joined(separator: " ")
        let (png, record) = try render("logit-lens", prompt: prompt)
        let data = try #require(record.data as? LogitLensView.Data)
        #expect(data.positions.count >= 129)
        let width = png[16 ..< 20].reduce(0) { $0 << 8 | Int($1) }
        #expect(width <= 2000 && width >= 1900, "\(width) px")
    }

    @Test func targetAndModeOptionsAreChecked() throws {
        let prompt = "The Eiffel Tower is"
        let cases: [([String: String], String)] = [
            (["metric": "target-prob", "target": " Paris is"], "target ' Paris is' is 2 tokens ('␣Paris' '␣is'), not one; name one token, or its id as id:N"),
            (["metric": "target-prob", "target": "id:49152"], "target id 49152 is outside the vocabulary (0 to 49151)"),
            (["target": " Paris"], "option 'target' applies to the metrics target-prob, target-rank and target-logit, not top-prob"),
            (["positions": "1"], "option 'positions' applies to mode=trajectory, not mode=grid"),
            (["mode": "trajectory", "flip": "true"], "option 'flip' applies to mode=grid, not mode=trajectory"),
            (["mode": "trajectory", "positions": "9"], "positions: '9' is not a position of the prompt's 6 tokens (0 to 5, or -1 to -6)"),
            (["mode": "trajectory", "positions": "0,1,2,3,4,5,-1,-2,-3,-4,-5,-6"], ""),
        ]
        for (options, message) in cases {
            if message.isEmpty {
                #expect(throws: Never.self) { try render("logit-lens", prompt: prompt, options: options) }
                continue
            }
            #expect { try render("logit-lens", prompt: prompt, options: options) } throws: { "\($0)" == "view 'logit-lens': " + message }
        }
    }
}

@Suite struct AttentionTests {
    /// bos=hide leaves out the first position's query row and key column
    /// (the hover cells are the rest of the causal triangle), with colours
    /// to the largest weight left; scale=log draws 0.001 to 1; both are
    /// refused for mode=scores.
    @Test func bosColumnAndLogScale() throws {
        let prompt = "The cat sat on the mat. The cat sat on the"
        let view = try BuiltinViews.registry.view("attention")
        let options = ["layer": "17", "head": "4", "bos": "hide"]
        let (_, record) = try render("attention", prompt: prompt, options: options)
        let data = try #require(record.data as? AttentionView.Data)
        let t = data.tokens.count
        let size = try FigurePipeline.layout(of: record, view: view, style: FigureStyle(theme: .light, width: nil, dpi: 100)).view.size
        let hits = try view.hitRegions(record.data, record.options, Rect(origin: Point(0, 0), size: size), .light, try Canvas.measuring())
        #expect(hits.count == (t - 1) * t / 2, "\(hits.count) cells for \(t) tokens")
        #expect(hits.allSatisfy { !$0.lines.contains("key 0: \(TokenText.visible(data.tokens[0]))") })
        let resolved = try #require(try view.resolveOptions(options) as? AttentionView.Options)
        let drawn = (1 ..< t).flatMap { q in (1 ... q).map { data.pattern![q][$0] } }
        #expect(AttentionView.weightScale(drawn, data, resolved).0 == ColorScale(low: 0, high: Double(drawn.max()!)))
        try checkDrawing(record, named: "attention-bos-hidden")
        let (_, log) = try render("attention", prompt: prompt, options: ["layer": "17", "head": "4", "scale": "log"])
        try checkDrawing(log, named: "attention-log")
        #expect { try render("attention", prompt: prompt, options: ["mode": "scores", "scale": "log"]) } throws: {
            "\($0)" == "view 'attention': option 'scale' applies to mode=head and mode=grid, not mode=scores"
        }
    }

    /// weight=norm draws α_ij · ‖f_h(x_j)‖ (Kobayashi et al. 2020): the
    /// pattern cell by cell times the norm of what the head moves from the
    /// key, to float32 rounding (1e-6 relative: one product). On SmolLM2
    /// the first position's values are small, so the BOS column that holds
    /// most of the weight holds a smaller share of the norm.
    @Test func valueWeightedPattern() throws {
        let prompt = "The cat sat on the mat. The cat sat on the"
        let model = try smollm2.get()
        let (_, weights) = try render("attention", prompt: prompt, options: ["layer": "17", "head": "4"])
        let (_, record) = try render("attention", prompt: prompt, options: ["layer": "17", "head": "4", "weight": "norm"])
        let a = try #require((weights.data as? AttentionView.Data)?.pattern)
        let data = try #require(record.data as? AttentionView.Data)
        let n = try #require(data.pattern)
        #expect(data.weighting == .norm)
        let ids = model.tokenize(prompt)
        let v = try #require(try model.forward(ids, hooks: .matching(["blocks.17.attn.hook_v"])).cache[.v(17)])
        let norms = try model.headOutputNorms(layer: 17, values: v)
        for q in 0 ..< ids.count {
            for k in 0 ... q {
                let expected = a[q][k] * norms.data[k * model.config.heads + 4]
                #expect(abs(n[q][k] - expected) <= 1e-6 * max(abs(expected), 1e-6), "cell \(q), \(k)")
            }
        }
        let bosShare = { (m: [[Float]]) in m.map { $0[0] / $0.reduce(0, +) }.reduce(0, +) / Float(m.count) }
        #expect(bosShare(n) < bosShare(a), "BOS share of the norm \(bosShare(n)) against \(bosShare(a)) of the weight")
        try checkDrawing(record, named: "attention-norm")
        #expect { try render("attention", prompt: prompt, options: ["mode": "scores", "weight": "norm"]) } throws: {
            "\($0)" == "view 'attention': option 'weight' applies to mode=head and mode=grid, not mode=scores"
        }
    }

    /// A score map says how many query positions each score is the mean
    /// over, counted independently here; a prompt where the score is
    /// defined at no position is refused rather than drawn as a grey map.
    @Test func scoresCountTheirPositions() throws {
        let model = try smollm2.get()
        let prompt = "The cat sat on the mat. The cat sat"
        let (_, record) = try render("attention", prompt: prompt, options: ["mode": "scores"])
        let data = try #require(record.data as? AttentionView.Data)
        let ids = model.tokenize(prompt)
        // Positions whose token occurred before, with a token after that occurrence lying before them.
        let repeated = (2 ..< ids.count).filter { q in ids[0 ..< q - 1].contains(ids[q]) }
        #expect(repeated.count == 2, "\(repeated)")
        #expect(data.positions == Array(repeating: repeated.count, count: model.config.layers))
        #expect(AttentionView().scoreMap(data, options: AttentionView.Options()).colorbarLabel == "induction score, mean of 2 positions")
        let (_, previous) = try render("attention", prompt: prompt, options: ["mode": "scores", "score": "previous-token"])
        #expect((previous.data as? AttentionView.Data)?.positions?.first == ids.count - 1)
        #expect { try render("attention", prompt: "The Eiffel Tower is located", options: ["mode": "scores"]) } throws: {
            "\($0)" == "view 'attention': nothing to show for this prompt: the induction score is defined at no position (no token repeats)"
        }
    }

    @Test func patternsAgreeWithTheReference() throws {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Paths.internals))) as? [String: Any])
        let p = try #require((json["prompts"] as? [[String: Any]])?.first)
        let ids = try #require(p["ids"] as? [Int])
        let attn = try #require(p["attn"] as? [String: [[[Double]]]])
        let input = try AnalysisInput(model: try smollm2.get(), prompt: "", ids: ids)
        for (layer, heads) in attn {
            for h in [0, 4, 8] {
                var o = AttentionView.Options()
                o.layer = Int(layer)!
                o.head = h
                let data = try AttentionView().analyze(input, options: o)
                let pattern = try #require(data.pattern)
                for q in 0 ..< ids.count { for k in 0 ..< ids.count { #expect(abs(Double(pattern[q][k]) - heads[h][q][k]) <= 1e-4) } }
            }
        }
    }

    /// On a repeated random-token prompt the known induction heads of SmolLM2
    /// (17.3–17.5 and 18.6) rank among the top heads by induction score.
    @Test func inductionHeadsRankHigh() throws {
        var rng = SeededRandom(seed: 7)
        let block = (0 ..< 12).map { _ in Int.random(in: 1000 ..< 30000, using: &rng) }
        let ids = [1] + block + block + block
        let input = try AnalysisInput(model: try smollm2.get(), prompt: "random ×3", ids: ids)
        var o = AttentionView.Options()
        o.mode = .scores
        o.score = .induction
        let scores = try #require(try AttentionView().analyze(input, options: o).scores)
        let ranked = scores.enumerated().flatMap { l, row in row.enumerated().map { h, s in ((l, h), s ?? 0) } }.sorted { $0.1 > $1.1 }
        let top = Set(ranked.prefix(8).map { "\($0.0.0).\($0.0.1)" })
        for head in ["17.3", "17.4", "17.5", "18.6"] { #expect(top.contains(head), "\(head) not in the top 8: \(ranked.prefix(8))") }
    }

    @Test(arguments: ["head", "grid", "scores"])
    func modesRenderInEveryTheme(mode: String) throws {
        let prompt = "東京 is the capital of Japan; Paris is the capital of France. 東京 is the capital of"
        for theme in [Theme.light, .paper] {
            let width = theme == .paper ? 6.75 * 72 : nil
            let (_, record) = try render("attention", prompt: prompt, options: ["mode": mode, "layer": "17", "head": "4", "annotate": mode == "grid" ? "false" : "true"],
                                         theme: theme, width: width)
            try checkDrawing(record, named: "attention-\(mode)-\(theme.name)", data: "attention-\(mode)", theme: theme, width: width)
        }
    }

    @Test func outOfRangeHeadIsAClearError() throws {
        #expect { try render("attention", prompt: "hi", options: ["layer": "30"]) } throws: {
            "\($0)" == "view 'attention': layer 30 is out of range (the model has blocks 0 to 29)"
        }
        #expect { try render("attention", prompt: "hi", options: ["head": "9"]) } throws: { "\($0)".contains("head 9 is out of range") }
    }
}

/// A long prompt, long tokens, non-Latin scripts: labels stay legible and inside the page.
@Suite struct StressFigures {
    static let hundredTokens = String(repeating: "The quick brown fox jumps over the lazy dog while the cat watches. ", count: 7)

    @Test func longPromptLogitLens() throws {
        let model = try smollm2.get()
        let ids = Array(model.tokenize(Self.hundredTokens).prefix(100))
        #expect(ids.count == 100)
        let (_, record) = try render("logit-lens", prompt: "100 tokens", ids: ids, options: ["stride": "3"], theme: .paper, width: 6.75 * 72)
        try checkDrawing(record, named: "logit-lens-100-tokens-paper", theme: .paper, width: 6.75 * 72)
    }

    @Test func nonLatinAndLongTokens() throws {
        let prompt = "Привет, 東京タワー! مرحبا بالعالم — supercalifragilisticexpialidocious 🙂\n\tend"
        let (_, record) = try render("logit-lens", prompt: prompt)
        try checkDrawing(record, named: "logit-lens-scripts")
    }
}

/// Text deep dream against the reference step (grad_smollm2.json "dream"):
/// 8 free positions after BOS seeded from " The capital of France is the city
/// of" with logit 8, τ = 0.8, objective = mean of block 15 neuron 100 over
/// them. Gradients within 1e-4 relative L2 of float64 autograd; the objective
/// over 5 Adam steps (lr 0.1) within 1e-4.
@Suite struct TextDeepDreamTests {
    static let fixtures = Paths.tests.appendingPathComponent("LoupeModelTests/Fixtures/reference/smollm2").path

    static func floats(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/" + name))
        return data.withUnsafeBytes { raw in (0 ..< data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
    }

    static func relativeL2(_ a: [Float], _ b: [Float]) -> Double {
        var n = 0.0, d = 0.0
        for (x, y) in zip(a, b) { n += Double(x - y) * Double(x - y); d += Double(y) * Double(y) }
        return (n / d).squareRoot()
    }

    @Test func matchesTheReferenceStep() throws {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/grad_smollm2.json"))) as? [String: Any])
        let dream = try #require(json["dream"] as? [String: Any])
        let settings = try #require(dream["settings"] as? [String: Any])
        let seedIds = try #require(settings["seed_ids"] as? [Int])
        let model = try smollm2.get()
        let s = DreamSettings(layer: 15, neuron: 100, direction: nil, prefix: [1], start: seedIds, steps: 5,
                              learningRate: 0.1, temperatureStart: 0.8, temperatureEnd: 0.8, initLogit: 8)
        var dreamer = try Dreamer(model: model, settings: s)
        let first = try dreamer.evaluate(temperature: 0.8)
        let (value, dEmb, dz) = (first.relaxed, first.embeddings, first.z)
        // The projected tokens' activation comes from the same packed pass:
        // it is what a pass of them alone gives (to 1e-5: the batch's matrix
        // products may add in another order).
        let alone = try dreamer.activation(of: first.projected)
        #expect(abs(first.mean - alone.mean) <= 1e-5, "projected mean \(first.mean), alone \(alone.mean)")
        for (a, b) in zip(first.perToken, alone.perToken) { #expect(abs(a - b) <= 1e-5) }
        #expect(abs(Double(value) - (dream["objective0_f64"] as! Double)) <= 1e-4)
        let embErr = Self.relativeL2(dEmb.data, try Self.floats("grad_smollm2_dream_grad_emb_f64.f32"))
        let zErr = Self.relativeL2(dz, try Self.floats("grad_smollm2_dream_grad_z_f64.f32"))
        #expect(embErr <= 1e-4, "gradient w.r.t. the mixed embeddings: relative L2 \(embErr)")
        #expect(zErr <= 1e-4, "gradient w.r.t. z: relative L2 \(zErr)")
        let perStep = try #require(dream["objective_per_step_f64"] as? [Double])
        for k in 0 ..< 5 {
            let v = try dreamer.ascend(temperature: 0.8).relaxed
            #expect(abs(Double(v) - perStep[k]) <= 1e-4, "step \(k): \(v), reference \(perStep[k])")
        }
        #expect(abs(Double(try dreamer.evaluate(temperature: 0.8).relaxed) - perStep[5]) <= 1e-4)
    }

    /// Block 15 neuron 100's mean over the free positions, and the free
    /// tokens' cross-entropy, from fresh passes of BOS + `ids` alone.
    static func rerun(_ ids: [Int], model: Model, neuron: Int = 100) throws -> (activation: Double, crossEntropy: Double) {
        let all = [model.tokenizer.bosId ?? 0] + ids
        let post = try #require(try model.forward(all, hooks: .matching(["blocks.15.mlp.hook_post"]), lastBlock: 15).cache[.mlpPost(15)])
        let m = model.config.dMLP
        let activation = (1 ..< all.count).map { Double(post.data[$0 * m + neuron]) }.reduce(0, +) / Double(ids.count)
        let logits = try #require(try model.forward(all, hooks: .none).logits)
        let ce = (1 ..< all.count).map { p -> Double in
            let row = logits.row(p - 1).map(Double.init)
            let top = row.max()!
            return log(row.reduce(0) { $0 + exp($1 - top) }) + top - row[all[p]]
        }.reduce(0, +) / Double(ids.count)
        return (activation, ce)
    }

    /// Token swaps (the default): the same seed gives the same dream, the
    /// search climbs, and every number the figure reports is of real text
    /// — re-run here alone, it gives the same activation (to 1e-5: the
    /// view's passes are packed and add in another order) and the same
    /// cross-entropy (to 1e-4 nats, float32 logits summed in float64 here).
    @Test func swapsClimbOnRealText() throws {
        let options = ["steps": "6", "positions": "4", "candidates": "16", "show": "3", "init": "random", "seed": "3", "reference": "false"]
        let (_, a) = try render("text-deep-dream", prompt: "hi", options: options)
        let (_, b) = try render("text-deep-dream", prompt: "hi", options: options)
        let view = try BuiltinViews.registry.view("text-deep-dream")
        #expect(try view.encodeRecord(a) == view.encodeRecord(b))
        let data = try #require(a.data as? TextDeepDreamView.Data)
        #expect(data.method == .discrete && data.reference == nil)
        #expect(data.steps.count == 7 && data.steps.filter { $0.tokens != nil }.map(\.step) == [0, 3, 6])
        #expect(data.steps.allSatisfy { $0.relaxed == nil && $0.temperature == nil && $0.crossEntropy != nil })
        #expect(data.evaluated > 0 && data.evaluated <= 6 * 16)
        let best = data.best
        #expect(best.text.ids.count == 4)
        #expect(best.step == data.steps.indices.max { data.steps[$0].projected < data.steps[$1].projected })
        #expect(best.text.activation > data.steps[0].projected, "no step beat the start: \(data.steps.map(\.projected))")
        let model = try smollm2.get()
        let again = try TextDeepDreamTests.rerun(best.text.ids, model: model)
        #expect(abs(again.activation - best.text.activation) < 1e-5, "re-run \(again.activation), figure \(best.text.activation)")
        #expect(abs(again.crossEntropy - best.text.crossEntropy) < 1e-4, "re-run \(again.crossEntropy), figure \(best.text.crossEntropy)")
        // A swapped text is one a reader can paste: it tokenises back to itself.
        #expect(best.step > 0 && model.tokenizer.encode(best.text.text) == best.text.ids)
    }

    /// The relaxed ascent stays, as a diagnostic beside the discrete search:
    /// its best is the best projected step, re-run alone.
    @Test func relaxedAscentClimbs() throws {
        let options = ["method": "relaxed", "steps": "12", "positions": "4", "show": "3", "init": "random", "seed": "3", "reference": "false"]
        let (_, a) = try render("text-deep-dream", prompt: "hi", options: options)
        let data = try #require(a.data as? TextDeepDreamView.Data)
        #expect(data.steps.count == 13 && data.steps.allSatisfy { $0.relaxed != nil && $0.temperature != nil })
        let top = try #require(data.steps.map(\.projected).max())
        #expect(abs(data.best.text.activation - top) < 1e-5 && data.best.text.activation > data.steps[0].projected)
        let again = try TextDeepDreamTests.rerun(data.best.text.ids, model: try smollm2.get())
        #expect(abs(again.activation - data.best.text.activation) < 1e-5)
    }

    /// With a fluency weight every candidate is scored activation − λ ·
    /// cross-entropy, and the best is the best score.
    @Test func fluencyWeightTradesActivation() throws {
        let options = ["steps": "3", "positions": "3", "candidates": "12", "fluency": "0.5", "init": "random", "seed": "5", "reference": "false"]
        let (_, a) = try render("text-deep-dream", prompt: "hi", options: options)
        let data = try #require(a.data as? TextDeepDreamView.Data)
        let scores = data.steps.map { $0.projected - 0.5 * $0.crossEntropy! }
        #expect(data.best.step == scores.indices.max { scores[$0] < scores[$1] })
        let again = try TextDeepDreamTests.rerun(data.best.text.ids, model: try smollm2.get())
        #expect(abs(again.crossEntropy - data.best.text.crossEntropy) < 1e-4 && abs(again.crossEntropy - data.steps[data.best.step].crossEntropy!) < 1e-4)
        try checkDrawing(a, named: "text-deep-dream-fluency")
    }

    /// Options of the other method are refused, never ignored.
    @Test func optionsOfTheOtherMethodAreRefused() throws {
        #expect { try render("text-deep-dream", prompt: "hi", options: ["lr": "0.5"]) } throws: {
            "\($0)" == "view 'text-deep-dream': option 'lr' applies to method=relaxed, not method=discrete"
        }
        #expect { try render("text-deep-dream", prompt: "hi", options: ["method": "relaxed", "fluency": "1"]) } throws: {
            "\($0)".contains("option 'fluency' applies to method=discrete")
        }
    }

    @Test func badTargetsAreClearErrors() throws {
        #expect { try render("text-deep-dream", prompt: "hi", options: ["layer": "40"]) } throws: {
            "\($0)" == "view 'text-deep-dream': layer 40 is out of range (the model has blocks 0 to 29)"
        }
        #expect { try render("text-deep-dream", prompt: "hi", options: ["neuron": "1536"]) } throws: { "\($0)".contains("neuron 1536 is out of range") }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-dir-\(UUID().uuidString)").path
        try Data("1 2 3".utf8).write(to: URL(fileURLWithPath: folder))
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect { try render("text-deep-dream", prompt: "hi", options: ["direction": folder]) } throws: {
            "\($0)".contains("has 3 values but the residual stream has 576")
        }
    }
}

@Suite struct NeuronClustersTests {
    /// On the default model, prompt set and block 15 (the gallery's figure):
    /// the data is complete and consistent, and what the figure claims holds.
    /// The aim is at least 4 clusters with a topic at corrected p < 0.01 and
    /// held-out agreement of at least 80 %; the test asks for the 4 tags and
    /// 75 % (one cluster in 8 may change its held-out first topic where two
    /// topics are close, with another machine's summation order).
    @Test func tagsAtBlock15HoldOnTheHeldOutHalf() throws {
        let (_, record) = try render("neuron-clusters", prompt: "", options: ["layer": "15"])
        let data = try #require(record.data as? NeuronClustersView.Data)
        let n = data.neurons.count
        #expect(n == 48 && data.clusters.count == n && data.order.sorted() == Array(0 ..< n))
        #expect(Set(data.clusters) == Set(0 ..< 8) && data.merges.count == n - 1 && data.tags.count == 8)
        #expect(data.topics.count >= 10 && data.prompts.count >= 400 && data.firstPosition == 2)
        // Rows of one cluster are contiguous in the dendrogram order.
        let sequence = data.order.map { data.clusters[$0] }
        #expect(zip(sequence, sequence.dropFirst()).filter { $0 != $1 }.count == 7)
        let tagged = data.tags.filter { $0.topic != nil }
        #expect(tagged.count >= 4, "\(data.tags.map { ($0.candidate, $0.test.pCorrected) })")
        #expect(tagged.allSatisfy { $0.test.pCorrected < 0.01 && $0.test.significant })
        #expect(data.tags.allSatisfy { $0.topic != nil || $0.test.pCorrected >= data.alpha || $0.test.effect <= 0 })
        #expect((data.agreement ?? 0) >= 0.75, "held-out agreement \(data.agreement ?? 0)")
        // The held-out effect is recomputed here from the figure's own
        // numbers: each cluster's mean standardised importance per prompt.
        let labels = data.prompts.map { data.topics.firstIndex(of: $0.topic)! }
        let heldOut = data.prompts.indices.filter { data.half[$0] == 1 }
        #expect(heldOut.count == data.prompts.count / 2)
        for tag in data.tags {
            let members = data.clusters.indices.filter { data.clusters[$0] == tag.cluster }
            let score = heldOut.map { p in members.reduce(0) { $0 + data.values[$1][p] } / Double(members.count) }
            let d = TopicStatistics.effect(score, labels: heldOut.map { labels[$0] }, topic: data.topics.firstIndex(of: tag.candidate)!)
            #expect(abs(d - tag.test.effect) < 1e-9, "C\(tag.cluster + 1): \(d) against \(tag.test.effect)")
            #expect(members.contains(tag.test.representative) && data.neurons[tag.test.representative].neuron == tag.neuron)
        }
        // Each neuron's η² is the ANOVA of its own importance by topic on
        // the discovery half, and the neurons are chosen by it.
        #expect(data.neurons.allSatisfy { $0.eta2 > 0.3 })
        // The example contexts are real: never a position left out, and
        // the activation a pass of their prompt alone gives (to 1e-4: the
        // figure's pass is packed, its products add in another order).
        let model = try smollm2.get()
        for tag in data.tags.prefix(3) {
            #expect(!tag.examples.isEmpty)
            for e in tag.examples {
                #expect(e.position >= data.firstPosition)
                let ids = model.tokenize(data.prompts[e.prompt].text)
                let post = try #require(try model.forward(ids, hooks: .matching(["blocks.15.mlp.hook_post"]), lastBlock: 15).cache[.mlpPost(15)])
                let a = Double(post.data[e.position * model.config.dMLP + tag.neuron])
                #expect(abs(a - e.activation) <= 1e-4 * max(1, abs(a)), "\(a) against \(e.activation)")
                #expect(model.tokenizer.decode([ids[e.position]]) == e.token)
            }
        }
        // What the gallery's dreams read.
        let exports = try BuiltinViews.registry.view("neuron-clusters").exports(record.data, record.options)
        #expect(exports["S1.neuron"] != nil && exports["S2.neuron"] != nil && exports["layer"] == "15")
        try checkDrawing(record, named: "neuron-clusters")
    }

    @Test func kMeansAndMaxImportance() throws {
        let (_, record) = try render("neuron-clusters", prompt: "", options: ["neurons": "24", "clusters": "3", "method": "kmeans", "importance": "max"])
        let data = try #require(record.data as? NeuronClustersView.Data)
        #expect(data.merges.isEmpty && Set(data.clusters).count == 3)
        try checkDrawing(record, named: "neuron-clusters-kmeans")
    }

    @Test func badPromptSetsNameTheLine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-prompts-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Data("{\"topic\": \"a\", \"text\": \"one\"}\n{\"topic\": \"a\" \"text\": \"two\"}\n".utf8).write(to: URL(fileURLWithPath: folder + "/bad.jsonl"))
        try Data("\n".utf8).write(to: URL(fileURLWithPath: folder + "/empty.jsonl"))
        let few = (0 ..< 4).map { #"{"topic": "a", "text": "one two three \#($0)"}"# } + [#"{"topic": "b", "text": "four five six"}"#]
        try Data(few.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: folder + "/few.jsonl"))
        #expect { try render("neuron-clusters", prompt: "", options: ["prompts": folder + "/bad.jsonl"]) } throws: {
            "\($0)" == "prompt set '\(folder)/bad.jsonl' line 2: expected {\"topic\": \"...\", \"text\": \"...\"}"
        }
        #expect { try render("neuron-clusters", prompt: "", options: ["prompts": folder + "/empty.jsonl"]) } throws: { "\($0)".contains("it holds no prompts") }
        #expect { try render("neuron-clusters", prompt: "", options: ["prompts": folder + "/few.jsonl"]) } throws: {
            "\($0)".contains("topic 'b' has fewer than 4 prompts")
        }
        #expect { try render("neuron-clusters", prompt: "", options: ["layer": "30"]) } throws: { "\($0)".contains("layer 30 is out of range") }
        #expect { try render("neuron-clusters", prompt: "", options: ["permutations": "100"]) } throws: { "\($0)".contains("permutations") }
        // Too few shuffles for the clusters tested could never tag anything: refused, not drawn as "no topic".
        #expect { try render("neuron-clusters", prompt: "", options: ["clusters": "20", "permutations": "1000"]) } throws: {
            "\($0)" == "view 'neuron-clusters': with 20 clusters, 1000 permutations cannot reach alpha 0.01 (the smallest corrected p is 20 / 1001); set permutations to at least 2000"
        }
    }
}

/// The slower options, on a small prompt set.
@Suite struct SmallPromptSetTests {
    static func withPromptSet(_ body: (String) throws -> Void) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-small-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let lines = [("food", "Bake the bread in a hot oven."), ("food", "Stir the soup and add salt."),
                     ("food", "Slice the onions thinly for the stew."), ("food", "Whisk the eggs with sugar and butter."),
                     ("code", "let x = [1, 2, 3] in Swift."), ("code", "for i in range(10): print(i)"),
                     ("code", "def square(n): return n * n"), ("code", "int main() { return 0; }")]
        let text = lines.map { #"{"topic": "\#($0.0)", "text": "\#($0.1)"}"# }.joined(separator: "\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/small.jsonl"))
        try body(folder + "/small.jsonl")
    }

    @Test func attributionImportance() throws {
        try Self.withPromptSet { path in
            let (_, record) = try render("neuron-clusters", prompt: "", options: ["prompts": path, "importance": "attribution", "neurons": "6", "clusters": "2"])
            let data = try #require(record.data as? NeuronClustersView.Data)
            #expect(data.topics == ["food", "code"] && data.neurons.count == 6 && data.values.allSatisfy { $0.count == 8 })
        }
    }

    /// The reference passage is real text of the set, its numbers are of
    /// it run alone, and `init=prompt-set` starts from it.
    @Test func dreamFromThePromptSetAndTowardADirection() throws {
        try Self.withPromptSet { path in
            let (_, fromSet) = try render("text-deep-dream", prompt: "hi", options: ["prompts": path, "init": "prompt-set", "steps": "2", "positions": "3", "candidates": "8"])
            let data = try #require(fromSet.data as? TextDeepDreamView.Data)
            let reference = try #require(data.reference)
            #expect(data.steps.count == 3 && data.start == reference.text.text)
            let model = try smollm2.get()
            let set = try PromptSet(path: path)
            let entry = set.entries[reference.prompt - 1]
            #expect(entry.topic == reference.topic)
            let ids = model.tokenize(entry.text)
            #expect((0 ... ids.count - 3).contains { Array(ids[$0 ..< $0 + 3]) == reference.text.ids })
            let again = try TextDeepDreamTests.rerun(reference.text.ids, model: model)
            #expect(abs(again.activation - reference.text.activation) < 1e-5)
            // Started from the passage, the best can only match or beat it.
            #expect(data.best.text.activation >= reference.text.activation - 1e-5)
            let direction = (path as NSString).deletingLastPathComponent + "/direction.txt"
            try Data((0 ..< 576).map { $0 % 7 == 0 ? "0.05" : "0" }.joined(separator: " ").utf8).write(to: URL(fileURLWithPath: direction))
            let (_, toward) = try render("text-deep-dream", prompt: "hi", options: ["direction": direction, "steps": "2", "positions": "3", "layer": "5", "prompts": path, "candidates": "8"])
            let d = try #require(toward.data as? TextDeepDreamView.Data)
            #expect(d.neuron == nil && d.target.contains("direction") && d.reference != nil)
        }
    }
}

@Suite struct DashboardPageTests {
    /// The paper figure the README shows: three panels, one page.
    @Test func eiffelPaperFigure() throws {
        let file = Paths.tests.deletingLastPathComponent().appendingPathComponent("Gallery/dashboards/eiffel.yml").path
        var spec = try DashboardSpec.read(file, registry: BuiltinViews.registry)
        spec.dpi = 100
        let model = try smollm2.get()
        let prompt = try #require(spec.prompt)
        let input = try AnalysisInput(model: model, prompt: prompt, ids: model.tokenize(prompt), hooks: spec.hooks)
        let live = try Dashboard(spec: spec, input: input)
        // The golden is drawn from the panels' records committed beside it
        // (see checkDrawing), recorded from the live analyses on request.
        let name = "dashboard-eiffel-paper"
        let dataFile = Paths.tests.appendingPathComponent("LoupeViewsTests/__Snapshots__/\(name).json").path
        if Golden.records(name) {
            let encoded = try zip(live.records, spec.panels).map { r, p in try JSONSerialization.jsonObject(with: try p.view.encodeRecord(r)) }
            try JSONSerialization.data(withJSONObject: encoded, options: [.sortedKeys]).write(to: URL(fileURLWithPath: dataFile))
        }
        let stored = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dataFile))) as? [Any])
        let records = try zip(stored, spec.panels).map { r, p in try p.view.decodeRecord(try JSONSerialization.data(withJSONObject: r)) }
        #expect(records.count == spec.panels.count)
        let dashboard = Dashboard(spec: spec, prompt: prompt, records: records)
        let layout = try dashboard.layout(measure: try Canvas.measuring())
        #expect(abs(layout.page.width - 6.75 * 72) < 1e-6 && abs(layout.page.height - 6.5 * 72) < 1e-6)
        let png = try FigureWriter.png(size: layout.page, dpi: spec.dpi, metadata: FigureMetadata(title: "eiffel", software: "tests")) { canvas in
            try dashboard.draw(canvas, layout: layout)
        }
        try Golden.check(png, named: name)
    }

    /// A panel with nothing to show for the prompt (induction scores on a
    /// prompt where no token repeats) is left out of the page, which says so
    /// under its title, with the prompt and the model.
    @Test func emptyPanelsAreLeftOutAndThePageNamesPromptAndModel() throws {
        let file = Paths.tests.deletingLastPathComponent().appendingPathComponent("Gallery/dashboards/overview.yml").path
        let spec = try DashboardSpec.read(file, registry: BuiltinViews.registry)
        let model = try smollm2.get()
        let prompt = "The Eiffel Tower is located in the city of"
        let ids = model.tokenize(prompt)
        #expect(Set(ids).count == ids.count, "the prompt repeats a token")
        let dashboard = try Dashboard(spec: spec, input: try AnalysisInput(model: model, prompt: prompt, ids: ids, hooks: spec.hooks))
        #expect(dashboard.spec.panels.count == spec.panels.count - 1)
        #expect(!dashboard.records.contains { ($0.data as? AttentionView.Data)?.score == .induction })
        #expect(dashboard.omitted == ["attention: the induction score is defined at no position (no token repeats)"])
        #expect(dashboard.header == ["prompt: “\(prompt)”", "model: " + model.identity.caption, "left out: " + dashboard.omitted[0]])
        let layout = try dashboard.layout(measure: try Canvas.measuring())
        #expect(layout.header.count == 3)
        #expect(layout.frames.allSatisfy { $0.y > layout.header.last!.at.y })
        // On a prompt that repeats a token, every panel is kept.
        let again = "The cat sat on the mat. The cat sat"
        let full = try Dashboard(spec: spec, input: try AnalysisInput(model: model, prompt: again, ids: model.tokenize(again), hooks: spec.hooks))
        #expect(full.records.count == spec.panels.count && full.omitted.isEmpty)
    }

    /// The hit regions a view's example exports (they are optional) lie
    /// inside its figure and have titles.
    @Test(arguments: BuiltinViews.registry.ids)
    func hitRegionsLieInTheFigure(id: String) throws {
        let view = try BuiltinViews.registry.view(id)
        let (_, record) = try render(id, prompt: view.info.example.prompt, options: view.info.example.options)
        let size = try FigurePipeline.layout(of: record, view: view, style: FigureStyle(dpi: 100)).view.size
        let hits = try view.hitRegions(record.data, record.options, Rect(origin: Point(0, 0), size: size), .light, try Canvas.measuring())
        #expect(hits.allSatisfy { $0.x >= 0 && $0.y >= 0 && $0.x + $0.width <= size.width + 0.01 && $0.y + $0.height <= size.height + 0.01 },
                "\(id): a region leaves the \(size.width) × \(size.height) pt figure")
        #expect(hits.allSatisfy { !$0.title.isEmpty })
    }
}

/// Every figure and its data name the model: file, family, storage.
@Suite struct ModelLineTests {
    @Test func figuresAndTheirDataNameTheModel() throws {
        let model = try smollm2.get()
        let (_, record) = try render("logit-lens", prompt: "The cat sat")
        #expect(record.identity == model.identity)
        let view = try BuiltinViews.registry.view("logit-lens")
        let json = try #require(try JSONSerialization.jsonObject(with: try view.encodeRecord(record)) as? [String: Any])
        let identity = try #require(json["model_identity"] as? [String: String])
        #expect(identity["file"] == "SmolLM2-135M-Instruct.Q4_1.gguf" && identity["family"] == "llama")
        #expect(identity["quantisation"] == "Q4_1 (4-bit); Q8_0 embedding")
        #expect(try view.decodeRecord(try view.encodeRecord(record)).identity == model.identity)
        // The written PNG carries it in its metadata too.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-model-line-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FigurePipeline.write(record, view: view, to: folder + "/f.png", format: .png, style: FigureStyle(dpi: 72))
        let png = try Data(contentsOf: URL(fileURLWithPath: folder + "/f.png"))
        #expect(png.range(of: Data(model.identity.caption.utf8)) != nil)
        // The line sits below the view, whose frame keeps its natural height;
        // a requested height is the page's.
        let style = FigureStyle(theme: .paper, width: 3.25 * 72, dpi: 100)
        let layout = try FigurePipeline.layout(of: record, view: view, style: style)
        let natural = try view.size(record.data, record.options, .paper, 3.25 * 72, try Canvas.measuring())
        #expect(layout.view.height == natural.height && layout.page.height == natural.height + layout.modelLine.height)
        var tall = style
        tall.height = 4 * 72
        #expect(try FigurePipeline.size(of: record, view: view, style: tall).height == 4 * 72)
    }

    /// The line drawn, at a column's width in the paper theme, from a fixed
    /// record with a fixed identity; wrapped at its separators when narrow.
    @Test func theLineAtTheFootOfAFigure() throws {
        let view = try BuiltinViews.registry.view("attention")
        let bytes = try Data(contentsOf: Paths.tests.appendingPathComponent("LoupeViewsTests/__Snapshots__/attention-head.json"))
        var record = try view.decodeRecord(bytes)
        record.identity = ModelIdentity(file: "SmolLM2-135M-Instruct.Q4_1.gguf", name: "SmolLM2", family: "llama",
                                        quantisation: "Q4_1 (4-bit); Q8_0 embedding")
        let style = FigureStyle(theme: .paper, width: 3.25 * 72, dpi: 100)
        let layout = try FigurePipeline.layout(of: record, view: view, style: style)
        #expect(layout.modelLine.lines.count == 2, "\(layout.modelLine.lines)")
        try Golden.check(try FigurePipeline.png(of: record, view: view, style: style), named: "figure-model-line")
    }
}

/// The default gallery's prompts are chosen to show something; each claim of
/// their `about` lines is checked here on the model, and the numbers the
/// lines quote are the ones measured.
@Suite struct GalleryPromptTests {
    static let spec = Result {
        try GallerySpec.read(Paths.tests.deletingLastPathComponent().appendingPathComponent("Gallery/smollm2.yml").path,
                             registry: BuiltinViews.registry)
    }

    func prompt(_ name: String) throws -> (ids: [Int], about: String) {
        let model = try smollm2.get()
        let p = try #require(try Self.spec.get().prompts.first { $0.name == name }, "no prompt '\(name)'")
        return (p.ids ?? model.tokenize(p.text), p.about)
    }

    func top1(_ ids: [Int]) throws -> String {
        let model = try smollm2.get()
        let logits = try #require(try model.forward(ids, hooks: .none).logits)
        return model.tokenizer.displayText(of: Logits.topK(logits.row(ids.count - 1), 1)[0])
    }

    /// The first block from which the logit lens's top-1 at the last
    /// position is `token` at every later block, and whether it is before.
    func lensFirstBlock(_ ids: [Int], _ token: String) throws -> (first: Int?, before: Bool) {
        let model = try smollm2.get()
        let cache = try model.forward(ids).cache
        let tops = try (0 ..< model.config.layers).map { l in
            let decoded = try model.logitLens(try #require(cache[.residPost(l)]))
            return model.tokenizer.displayText(of: decoded.top(position: ids.count - 1, k: 1)[0])
        }
        guard tops.last == token else { return (nil, false) }
        let first = (tops.lastIndex { $0 != token } ?? -1) + 1
        return (first, tops[..<first].contains(token))
    }

    @Test func factualRecall() throws {
        let (ids, about) = try prompt("eiffel")
        #expect(try top1(ids) == " Paris")
        let (first, before) = try lensFirstBlock(ids, " Paris")
        #expect(!before)
        #expect(about.contains("only from block \(try #require(first)) of 30"), "first block \(String(describing: first))")
    }

    @Test func french() throws {
        let (ids, about) = try prompt("french")
        #expect(try top1(ids) == " Paris")
        let (first, before) = try lensFirstBlock(ids, " Paris")
        #expect(!before && (first ?? 0) >= 24, "first block \(String(describing: first))")
        #expect(about.contains("only in the last blocks"))
    }

    @Test func code() throws {
        let (ids, about) = try prompt("code")
        #expect(try top1(ids) == " b" && about.contains("“ b”"))
    }

    /// The sum is computed from the prompt's last line, not written here.
    @Test func arithmetic() throws {
        let p = try #require(try Self.spec.get().prompts.first { $0.name == "arithmetic" })
        let last = try #require(p.text.split(separator: "\n").last)
        let terms = last.split(separator: "=")[0].split(separator: "+").map { Int($0.trimmingCharacters(in: .whitespaces))! }
        let sum = terms.reduce(0, +)
        #expect(try top1(try prompt("arithmetic").ids) == "\(sum)" && p.about.contains("“\(sum)”"))
    }

    /// Head 18.6 (the gallery's head figure) puts its largest weight past
    /// BOS on the token after the previous occurrence at the share of the
    /// repeated positions the prompt's line quotes (measured: 16 of 20),
    /// and the model's top-1 is the repeated token at the quoted share of
    /// the third repeat (measured: 7 of 9). The line quotes one fewer than
    /// measured, since an argmax near a tie may flip with another CPU's sums.
    @Test func induction() throws {
        let model = try smollm2.get()
        let (ids, about) = try prompt("induction")
        #expect(about.contains("head 18.6"))
        let result = try model.forward(ids, hooks: .matching(["blocks.18.attn.hook_pattern"]))
        let p = try #require(result.cache[.pattern(18)]), logits = try #require(result.logits)
        let t = ids.count, period = 10
        let repeated = Array(1 + period ..< t)
        let hits = repeated.filter { q in
            let row = p.data[(6 * t + q) * t + 1 ..< (6 * t + q) * t + q + 1]
            return row.indices.max { row[$0] < row[$1] }! - (6 * t + q) * t == q - period + 1
        }
        #expect(about.contains("at 15 or more of the \(repeated.count) repeated positions") && hits.count >= 15, "\(hits.count) of \(repeated.count)")
        let third = Array(1 + 2 * period ..< t - 1)
        let right = third.filter { Logits.topK(logits.row($0), 1)[0] == ids[$0 + 1] }
        #expect(about.contains("at 6 or more of \(third.count) in the third repeat") && right.count >= 6, "\(right.count) of \(third.count)")
    }

    @Test func story() throws {
        let model = try smollm2.get()
        let (ids, about) = try prompt("story")
        #expect(try top1(ids) == " fox" && about.contains("“ fox”") && about.contains("head 18.6"))
        let p = try #require(try model.forward(ids, hooks: .matching(["blocks.18.attn.hook_pattern"])).cache[.pattern(18)])
        let t = ids.count, q = t - 1
        let row = p.data[(6 * t + q) * t + 1 ..< (6 * t + q) * t + q + 1]
        let key = row.indices.max { row[$0] < row[$1] }! - (6 * t + q) * t
        #expect(model.tokenizer.displayText(of: ids[key]) == " fox" && key < q - 2, "head 18.6 attends most to \(key)")
    }
}

extension GalleryPromptTests {
    /// The IOI prompt: the answers clean and swapped, the gap, the head the
    /// attribution singles out, and what patching that head's z restores,
    /// each computed here from the model.
    @Test func indirectObject() throws {
        let model = try smollm2.get()
        let (ids, about) = try prompt("ioi")
        let patching = try #require(try Self.spec.get().figures.first { $0.name == "patching-heads" })
        let corrupted = model.tokenize(try #require(patching.options["corrupted"]))
        #expect(patching.options["site"] == "z")
        #expect(try top1(ids) == " Mary" && (try top1(corrupted)) == " John" && about.contains("top-1 is “ Mary”")
                && about.contains("and “ John” with the names swapped"))
        let mary = try #require(model.tokenize(" Mary").last), john = try #require(model.tokenize(" John").last)
        let pass = try model.forward(ids, hooks: .matching(Model.attributionHooks))
        let p = ids.count - 1
        let a = try model.directLogitAttribution(pass, position: p, target: mary, counterfactual: john)
        #expect(a.modelLogit > 5 && about.contains("by more than 5 logits"), "logit difference \(a.modelLogit)")
        let heads = a.heads.enumerated().flatMap { l, row in row.enumerated().map { (l, $0.offset, $0.element) } }
        let most = try #require(heads.max { $0.2 < $1.2 })
        #expect(most.0 == 23 && most.1 == 3 && about.contains("head 23.3 writes the most"), "head \(most.0).\(most.1) writes the most")
        let r = try model.activationPatching(clean: ids, corrupted: corrupted, site: .z, position: p, target: mary, counterfactual: john)
        #expect(r.values[23][3] > 0.5 && about.contains("restores more than half"), "head 23.3 restores \(r.values[23][3])")
    }
}

/// Figures set in a paper's column: drawn as `loupe render --theme paper
/// --width 3.25in` (one column) and `6.75in` (both) draw them, every text
/// box is checked.
@Suite struct PaperFitTests {
    /// What is wrong with the text of a drawing: under 6 pt, cut with an
    /// ellipsis, outside the page, or overlapping another text (boxes are
    /// the logical extents of the text, line spacing included; they may
    /// touch, within 0.5 pt).
    static func problems(_ texts: [Canvas.DrawnText], page: Size) -> [String] {
        let texts = texts.filter { !$0.text.trimmingCharacters(in: .whitespaces).isEmpty }
        var out: [String] = []
        for t in texts {
            if t.size < 6 - 1e-9 { out.append("'\(t.text)' is \(t.size) pt") }
            if t.cut { out.append("'\(t.text)' is cut") }
            if t.box.x < -0.5 || t.box.y < -0.5 || t.box.maxX > page.width + 0.5 || t.box.maxY > page.height + 0.5 {
                out.append("'\(t.text)' leaves the page at \(t.box)")
            }
        }
        for i in texts.indices {
            for j in texts.indices where j > i {
                let a = texts[i].box, b = texts[j].box
                let dx = min(a.maxX, b.maxX) - max(a.x, b.x), dy = min(a.maxY, b.maxY) - max(a.y, b.y)
                if dx > 0.5, dy > 0.5 { out.append("'\(texts[i].text)' overlaps '\(texts[j].text)' by \(String(format: "%.1f × %.1f", dx, dy)) pt") }
            }
        }
        return out
    }

    static func check(_ record: FigureRecord, view: RegisteredView, width: Double, height: Double? = nil) throws -> [String] {
        let style = FigureStyle(theme: .paper, width: width * 72, height: height.map { $0 * 72 }, dpi: 72)
        let layout = try FigurePipeline.layout(of: record, view: view, style: style)
        let canvas = try Canvas.recording()
        canvas.recordText()
        try FigurePipeline.draw(record, view: view, layout: layout, theme: .paper, on: canvas)
        return problems(canvas.drawnText ?? [], page: layout.page)
    }

    /// Tall views drawn to a given page height (`--height`): the all-heads
    /// grid across both columns (19.9 in tall at its natural size), the
    /// head-score map in one (7.2 in), neuron clusters in one. The page is
    /// the height asked for, every panel lies within it, and the text checks
    /// above still hold.
    @Test func tallViewsHonourTheHeight() throws {
        let prompt = "The cat sat on the mat. The cat sat on the"
        let cases: [(String, [String: String], Double, Double)] = [
            ("attention", ["mode": "grid"], 6.75, 8), ("attention", ["mode": "scores"], 3.25, 3.5),
        ]
        for (id, options, width, height) in cases {
            let view = try BuiltinViews.registry.view(id)
            let (_, record) = try render(id, prompt: prompt, options: options)
            let style = FigureStyle(theme: .paper, width: width * 72, height: height * 72, dpi: 72)
            let layout = try FigurePipeline.layout(of: record, view: view, style: style)
            #expect(layout.page == Size(width * 72, height * 72))
            let natural = try FigurePipeline.size(of: record, view: view, style: FigureStyle(theme: .paper, width: width * 72, dpi: 72))
            #expect(natural.height > height * 72, "\(id) \(options) is not tall at its natural size")
            let hits = try view.hitRegions(record.data, record.options, layout.view, .paper, try Canvas.measuring())
            #expect(!hits.isEmpty && hits.allSatisfy { $0.y + $0.height <= layout.view.maxY + 0.5 }, "\(id) \(options): a panel leaves the page")
            let found = try Self.check(record, view: view, width: width, height: height)
            #expect(found.isEmpty, "\(id) \(options) at \(width) × \(height) in: \(found.prefix(12))")
        }
        let view = try BuiltinViews.registry.view("neuron-clusters")
        let (_, clusters) = try render("neuron-clusters", prompt: view.info.example.prompt, options: view.info.example.options)
        let found = try Self.check(clusters, view: view, width: 3.25, height: 6)
        #expect(found.isEmpty, "neuron-clusters at 3.25 × 6 in: \(found.prefix(12))")
    }

    @Test(arguments: BuiltinViews.registry.ids)
    func everyViewFitsAColumnAndThePage(id: String) throws {
        let view = try BuiltinViews.registry.view(id)
        let (_, record) = try render(id, prompt: view.info.example.prompt, options: view.info.example.options)
        for width in [3.25, 6.75] {
            let found = try Self.check(record, view: view, width: width)
            #expect(found.isEmpty, "\(id) at \(width) in: \(found.count) problems: \(found.prefix(12))")
        }
    }
}

/// Every view's figure and snippet set in a two-column article by pdflatex
/// (from Debian's texlive-latex-base, which `scripts/setup.sh test`
/// installs): a column figure at 3.25 in, a two-column one at 6.75 in, and a
/// wide screen figure that the snippet scales down to the column.
@Suite struct LaTeXArticleTests {
    static let pdflatex = ["/usr/bin/pdflatex", "/usr/local/bin/pdflatex"].first(where: FileManager.default.isExecutableFile)

    static func run(_ tool: String, _ arguments: [String], in folder: String) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        p.currentDirectoryURL = URL(fileURLWithPath: folder)
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(.enabled(if: pdflatex != nil, "SKIPPED: pdflatex is not installed (scripts/setup.sh test installs texlive-latex-base), so no article was compiled"))
    func twoColumnArticleWithEveryView() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-latex-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var body = ""
        for id in BuiltinViews.registry.ids {
            let view = try BuiltinViews.registry.view(id)
            let (_, record) = try render(id, prompt: view.info.example.prompt, options: view.info.example.options)
            // Column figures at most 6 in tall and page-wide ones at most 8 in, as a user would ask with --height.
            for (name, theme, width, limit) in [("col", Theme.paper, 3.25 as Double?, 6.0), ("wide", .paper, 6.75, 8.0), ("screen", .light, nil, 8.0)] {
                var style = FigureStyle(theme: theme, width: width.map { $0 * 72 }, dpi: 72)
                if try FigurePipeline.size(of: record, view: view, style: style).height > limit * 72 { style.height = limit * 72 }
                let pdf = folder + "/\(id)-\(name).pdf"
                try FigurePipeline.write(record, view: view, to: pdf, format: .pdf, style: style, writeData: false)
                try LaTeX.writeSnippet(for: pdf, size: try FigurePipeline.size(of: record, view: view, style: style))
                let float = name == "wide" ? "figure*" : "figure"
                body += "\\begin{\(float)}[p]\\centering\\input{\(id)-\(name).tex}\\caption{LOUPE \(id) \(name)}\\end{\(float)}\n"
            }
        }
        let article = """
        \\documentclass[10pt,twocolumn]{article}
        \\usepackage{graphicx}
        \\setlength{\\textwidth}{6.75in}\\setlength{\\columnsep}{0.25in}
        \\setlength{\\oddsidemargin}{-0.125in}\\setlength{\\evensidemargin}{-0.125in}
        \\setlength{\\textheight}{9in}\\setlength{\\topmargin}{-0.5in}
        \\begin{document}
        \\typeout{COLUMN \\the\\columnwidth}
        Figures of every view, as Loupe writes them and their snippets.
        \(body)
        \\end{document}
        """
        try Data(article.utf8).write(to: URL(fileURLWithPath: folder + "/article.tex"))
        let (status, output) = try Self.run(Self.pdflatex!, ["-interaction=nonstopmode", "-halt-on-error", "article.tex"], in: folder)
        #expect(status == 0, "pdflatex failed: \(output.suffix(2000))")
        let log = (try? String(contentsOfFile: folder + "/article.log", encoding: .utf8)) ?? output
        #expect(log.contains("COLUMN 234.8775pt"), "the column is not 3.25 in")
        for warning in ["Overfull \\hbox", "Overfull \\vbox", "Float too large", "LaTeX Warning"] {
            #expect(!log.contains(warning), "\(warning) in the log: \(log.components(separatedBy: "\n").filter { $0.contains(warning) }.prefix(5))")
        }
        // The pages hold every figure, with its caption and its own text.
        if let pdftotext = ["/usr/bin/pdftotext", "/usr/local/bin/pdftotext"].first(where: FileManager.default.isExecutableFile) {
            let text = try Self.run(pdftotext, ["article.pdf", "-"], in: folder).output
            for id in BuiltinViews.registry.ids {
                for name in ["col", "wide", "screen"] { #expect(text.contains("LOUPE \(id) \(name)"), "no figure \(id) \(name)") }
            }
            #expect(text.contains("SmolLM2-135M-Instruct.Q4_1.gguf"), "no model line in the pages' text")
        }
    }
}
