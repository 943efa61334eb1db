import Attention
import Foundation
import LogitLens
import LoupeCore
import LoupeModel
import LoupeRender
import LoupeTestSupport
import LoupeViews
import NeuronClusters
import TextDeepDream
import Testing

enum Paths {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let plugins = tests.deletingLastPathComponent().appendingPathComponent("Plugins").path
    static let internals = tests.appendingPathComponent("LoupeModelTests/Fixtures/reference/smollm2/internals.json").path
}

let smollm2: Result<Model, any Error> = Result { try Model.load(nil) }

/// Analyses and draws a view as `loupe render` does; returns the PNG and the record.
func render(_ id: String, prompt: String, ids: [Int]? = nil, options: [String: String] = [:], theme: Theme = .light,
            width: Double? = nil, model given: Model? = nil) throws -> (png: Data, record: FigureRecord) {
    let model = try given ?? smollm2.get()
    let view = try BuiltinViews.registry.view(id)
    // A view that reads no prompt runs on BOS alone, as `loupe render` runs it.
    let noPrompt = !view.info.usesPrompt && prompt.isEmpty
    let input = try AnalysisInput(model: model, prompt: prompt, ids: ids ?? (noPrompt ? [model.tokenizer.bosId ?? 0] : model.tokenize(prompt)),
                                  hooks: view.info.hookFilter)
    let record = try FigurePipeline.analyze(view, input: input, options: try view.resolveOptions(options))
    return (try drawPNG(record, view: view, theme: theme, width: width), record)
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
    let size = try FigurePipeline.size(of: record, view: view, style: style)
    let png = try FigureWriter.png(size: size, dpi: style.dpi, metadata: FigureMetadata(title: id, software: "tests")) { canvas in
        canvas.fill(Rect(origin: Point(0, 0), size: size), theme.background)
        try view.draw(record.data, record.options, canvas, Rect(origin: Point(0, 0), size: size), theme)
    }
    return png
}

/// Every view on every model family: the view's example, with the settings
/// that name SmolLM2's blocks moved to the small checkpoint's last block, a
/// short dream, and a small neuron sample. No goldens: the check is that
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
            if names.contains("neurons") { options["neurons"] = "12"; options["clusters"] = "3" }
            if names.contains("steps") { options["steps"] = "4"; options["show"] = "2" }
            let (png, record) = try render(id, prompt: view.info.example.prompt, options: options, model: model)
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(family) \(id): not a PNG")
            #expect(png.count > 1000, "\(family) \(id): an empty figure")
            let json = String(decoding: try view.encodeRecord(record), as: UTF8.self)
            #expect(!json.contains("NaN") && !json.contains("Infinity"), "\(family) \(id): non-finite data")
        }
    }
}

extension FamilyViewTests {
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
            "\($0)" == "view 'logit-lens' option 'metric': 'accuracy' is not one of top-prob, target-prob, target-rank, entropy, kl-final"
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
}

@Suite struct AttentionTests {
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

    /// The same seed gives the same dream; the projected activation climbs.
    @Test func deterministicAndClimbing() throws {
        let options = ["steps": "12", "positions": "4", "show": "3", "init": "random", "seed": "3"]
        let (_, a) = try render("text-deep-dream", prompt: "hi", options: options)
        let (_, b) = try render("text-deep-dream", prompt: "hi", options: options)
        let view = try BuiltinViews.registry.view("text-deep-dream")
        #expect(try view.encodeRecord(a) == view.encodeRecord(b))
        let data = try #require(a.data as? TextDeepDreamView.Data)
        #expect(data.steps.count == 13)
        #expect(data.steps.filter { $0.tokens != nil }.map(\.step) == [0, 6, 12])
        #expect(data.best.activation >= data.steps[0].projected)
        #expect(data.best.ids.count == 4)
        // "best" is the highest projected activation of any step, the ascent
        // found one above the start, and the number is the model's own: a
        // fresh forward pass of BOS + the best tokens gives the same mean of
        // neuron 100 of block 15 (the view's defaults) over the free positions.
        #expect(data.best.activation == data.steps.map(\.projected).max())
        #expect(data.best.activation > data.steps[0].projected, "no step beat the start: \(data.steps.map(\.projected))")
        let model = try smollm2.get()
        let ids = [model.tokenizer.bosId ?? 0] + data.best.ids
        let post = try #require(try model.forward(ids, hooks: .matching(["blocks.15.mlp.hook_post"]), lastBlock: 15).cache[.mlpPost(15)])
        let m = model.config.dMLP
        let rerun = (1 ..< ids.count).map { Double(post.data[$0 * m + 100]) }.reduce(0, +) / Double(ids.count - 1)
        // (To 1e-5: the figure's number comes from a packed pass, whose
        // matrix products may add in another order.)
        #expect(abs(rerun - data.best.activation) < 1e-5, "re-run \(rerun), figure \(data.best.activation)")
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
    /// The data the figure is drawn from is complete and consistent.
    @Test func dataHoldsNeuronsClustersOrderAndTags() throws {
        let (_, record) = try render("neuron-clusters", prompt: "", options: ["neurons": "20", "clusters": "4", "layer": "10"])
        let data = try #require(record.data as? NeuronClustersView.Data)
        #expect(data.neurons.count == 20 && data.clusters.count == 20)
        #expect(data.order.sorted() == Array(0 ..< 20))
        #expect(Set(data.clusters) == [0, 1, 2, 3])
        #expect(data.merges.count == 19)
        #expect(data.tags.count == 4 && data.tags.allSatisfy { (1 ... 3).contains($0.topics.count) && !$0.topTokens.isEmpty })
        #expect(data.topics.count >= 8 && data.prompts.count >= 96)
        // Rows of one cluster are contiguous in the dendrogram order.
        let sequence = data.order.map { data.clusters[$0] }
        #expect(zip(sequence, sequence.dropFirst()).filter { $0 != $1 }.count == 3)
        // Each neuron's row is z-scored across prompts.
        for row in data.values { #expect(abs(row.reduce(0, +) / Double(row.count)) < 1e-9) }
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
        #expect { try render("neuron-clusters", prompt: "", options: ["prompts": folder + "/bad.jsonl"]) } throws: {
            "\($0)" == "prompt set '\(folder)/bad.jsonl' line 2: expected {\"topic\": \"...\", \"text\": \"...\"}"
        }
        #expect { try render("neuron-clusters", prompt: "", options: ["prompts": folder + "/empty.jsonl"]) } throws: { "\($0)".contains("it holds no prompts") }
        #expect { try render("neuron-clusters", prompt: "", options: ["layer": "30"]) } throws: { "\($0)".contains("layer 30 is out of range") }
    }

    /// The shipped prompt set: at least 8 topics of at least 12 prompts.
    @Test func shippedPromptSet() throws {
        let set = try PromptSet(path: PromptSet.defaultPath)
        #expect(set.topics.count >= 8)
        for t in set.topics { #expect(set.entries.filter { $0.topic == t }.count >= 12, "\(t)") }
    }
}

/// The slower options, on a small prompt set.
@Suite struct SmallPromptSetTests {
    static func withPromptSet(_ body: (String) throws -> Void) throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-small-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let lines = [("food", "Bake the bread in a hot oven."), ("food", "Stir the soup and add salt."),
                     ("code", "let x = [1, 2, 3] in Swift."), ("code", "for i in range(10): print(i)")]
        let text = lines.map { #"{"topic": "\#($0.0)", "text": "\#($0.1)"}"# }.joined(separator: "\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/small.jsonl"))
        try body(folder + "/small.jsonl")
    }

    @Test func attributionImportance() throws {
        try Self.withPromptSet { path in
            let (_, record) = try render("neuron-clusters", prompt: "", options: ["prompts": path, "importance": "attribution", "neurons": "6", "clusters": "2"])
            let data = try #require(record.data as? NeuronClustersView.Data)
            #expect(data.topics == ["food", "code"] && data.neurons.count == 6 && data.values.allSatisfy { $0.count == 4 })
        }
    }

    @Test func dreamFromThePromptSetAndTowardADirection() throws {
        try Self.withPromptSet { path in
            let (_, fromSet) = try render("text-deep-dream", prompt: "hi", options: ["prompts": path, "init": "prompt-set", "steps": "2", "positions": "3"])
            let data = try #require(fromSet.data as? TextDeepDreamView.Data)
            #expect(data.steps.count == 3 && !data.start.isEmpty)
            let direction = (path as NSString).deletingLastPathComponent + "/direction.txt"
            try Data((0 ..< 576).map { $0 % 7 == 0 ? "0.05" : "0" }.joined(separator: " ").utf8).write(to: URL(fileURLWithPath: direction))
            let (_, toward) = try render("text-deep-dream", prompt: "hi", options: ["direction": direction, "steps": "2", "positions": "3", "layer": "5"])
            let d = try #require(toward.data as? TextDeepDreamView.Data)
            #expect(d.neuron == nil && d.target.contains("direction"))
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

    /// The hit regions a view's example exports (they are optional) lie
    /// inside its figure and have titles.
    @Test(arguments: BuiltinViews.registry.ids)
    func hitRegionsLieInTheFigure(id: String) throws {
        let view = try BuiltinViews.registry.view(id)
        let (_, record) = try render(id, prompt: view.info.example.prompt, options: view.info.example.options)
        let size = try FigurePipeline.size(of: record, view: view, style: FigureStyle(dpi: 100))
        let hits = try view.hitRegions(record.data, record.options, Rect(origin: Point(0, 0), size: size), .light, try Canvas.measuring())
        #expect(hits.allSatisfy { $0.x >= 0 && $0.y >= 0 && $0.x + $0.width <= size.width + 0.01 && $0.y + $0.height <= size.height + 0.01 },
                "\(id): a region leaves the \(size.width) × \(size.height) pt figure")
        #expect(hits.allSatisfy { !$0.title.isEmpty })
    }
}
