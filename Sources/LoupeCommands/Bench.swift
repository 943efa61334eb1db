import ArgumentParser
import Foundation
import LoupeCore
import LoupeModel
import LoupeRender

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed and memory.",
        discussion: """
        Example:
          loupe bench forward --tokens 64 --repeat 5
          loupe bench scaling --repeat 3
          loupe bench render --json
          loupe bench blas --library ./libmkl_rt.so.2
        """,
        subcommands: [BenchForward.self, BenchScaling.self, BenchBLAS.self, BenchRender.self, BenchView.self])
}

struct BenchForward: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Time the forward pass with the full activation cache and with none.",
        discussion: """
        Runs a fixed English text cut to --tokens tokens (BOS first) --repeat
        times each way and reports the medians, the load time, and the peak
        resident memory of the process.

        Example:
          loupe bench forward --tokens 64 --repeat 5 --json
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Prompt length in tokens.") var tokens = 64
    @Option(help: "Runs per measurement; the median is reported.") var `repeat` = 5
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard tokens > 0 else { throw ValidationError("--tokens must be at least 1") }
        guard `repeat` > 0 else { throw ValidationError("--repeat must be at least 1") }
    }

    struct Output: Encodable {
        let tokens: Int
        let median_ms_full_cache: Double
        let median_ms_no_cache: Double
        let tokens_per_second: Double
        let load_ms: Double
        let peak_rss_mb: Double
    }

    static let text = """
    The lighthouse keeper climbed the spiral stairs every evening at dusk, counting the steps \
    as his father had taught him. Two hundred and twelve. At the top he trimmed the wick, \
    polished the great lens until it shone, and watched the ships slip past the rocks below. \
    Nobody had told him that the light would be automated next spring, and he did not ask.
    """

    func run() throws {
        let model = try modelOptions.load()
        var ids = model.tokenize(Self.text)
        let body = model.tokenizer.encode(" " + Self.text)
        while ids.count < tokens { ids += body }
        ids = Array(ids.prefix(tokens))
        try model.validate(ids)

        _ = try model.forward(ids, hooks: .none) // warm-up: page in weights, size BLAS buffers
        let full = try medianMilliseconds(`repeat`) { _ = try model.forward(ids, hooks: .all) }
        let none = try medianMilliseconds(`repeat`) { _ = try model.forward(ids, hooks: .none) }
        let out = Output(tokens: tokens, median_ms_full_cache: full, median_ms_no_cache: none,
                         tokens_per_second: Double(tokens) / (full / 1000), load_ms: model.loadSeconds * 1000,
                         peak_rss_mb: peakResidentMB())
        if json {
            print(try jsonLine(out))
        } else {
            print("\(model.name), \(tokens) tokens, median of \(`repeat`)")
            print(String(format: "  forward, full cache   %8.1f ms  (%.0f tokens/s)", full, out.tokens_per_second))
            print(String(format: "  forward, no cache     %8.1f ms", none))
            print(String(format: "  load                  %8.1f ms", out.load_ms))
            print(String(format: "  peak resident memory  %8.1f MB", out.peak_rss_mb))
        }
    }
}

struct BenchScaling: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling",
        abstract: "How time and memory grow with the prompt and the prompt set, beside the compute limit.",
        discussion: """
        Measures the matrix product's peak (the best of five 2048³ sgemms), then times the
        forward pass at 64, 256 and 1024 tokens (full cache and none), and a
        pass over 1, 16 and 120 prompts of builtin:topics-small (cycled past
        its 120) as neuron-clusters makes it (block 15's MLP activations), one prompt at a
        time and batched. Each time is beside its compute limit: the FLOPs of
        its matrix products (attention counted over the causal triangle)
        divided by the measured peak. Memory is what the cache recorded and
        the process's peak so far (prompt sets first, then lengths, smallest first).

        Example:
          loupe bench scaling --repeat 3 --json
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Runs per measurement; the median is reported.") var `repeat` = 3
    @Option(help: ArgumentHelp("Prompt lengths to time, comma-separated.", valueName: "n,...")) var tokens = "64,256,1024"
    @Option(help: ArgumentHelp("Prompt-set sizes to time, comma-separated.", valueName: "n,...")) var prompts = "1,16,120"
    @Flag(help: "Print JSON.") var json = false

    func counts(_ text: String, _ name: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("--\(name) must be positive whole numbers separated by commas, not '\(text)'")
        }
        return values.map { $0! }
    }

    func validate() throws {
        _ = try counts(tokens, "tokens")
        _ = try counts(prompts, "prompts")
        guard (1 ... 100).contains(`repeat`) else { throw ValidationError("--repeat must be 1 to 100") }
    }

    struct TokenRow: Encodable {
        let tokens: Int
        let full_cache_ms: Double
        let no_cache_ms: Double
        let limit_ms: Double
        let full_cache_over_limit: Double
        let no_cache_over_limit: Double
        let recorded_mb: Double
        let peak_rss_mb: Double
    }

    struct PromptRow: Encodable {
        let prompts: Int
        let tokens: Int
        let one_at_a_time_ms: Double
        let batched_ms: Double
        let speedup: Double
        let limit_ms: Double
        let batched_over_limit: Double
        let peak_rss_mb: Double
    }

    struct Output: Encodable {
        let model: String
        let matrix_product: String
        let peak_gflops: Double
        let repeats: Int
        let lengths: [TokenRow]
        let prompt_sets: [PromptRow]
    }

    func run() throws {
        let model = try modelOptions.load()
        // A length the context cannot hold is refused before any timing.
        if let longest = try counts(tokens, "tokens").max(), longest > model.config.contextLength {
            throw ModelError.promptTooLong(tokens: longest, context: model.config.contextLength)
        }
        let peak = MatrixProduct.gflops()
        func limit(_ flops: Double) -> Double { flops / (peak * 1e9) * 1000 }
        // The prompt sets first: their peak memory is below the long prompts'.
        // The small set, so that sizes measured on it before the default set
        // grew stay comparable.
        let set = try PromptSet(path: PromptSet.builtinPrefix + "topics-small")
        let layer = min(15, model.config.layers - 1)
        let hooks = HookFilter.matching(["blocks.\(layer).mlp.hook_post"])
        var sets: [PromptRow] = []
        for n in try counts(prompts, "prompts").sorted() {
            let batch = (0 ..< n).map { model.tokenize(set.entries[$0 % set.entries.count].text) }
            let single = try medianMilliseconds(`repeat`) { for ids in batch { _ = try model.forward(ids, hooks: hooks, lastBlock: layer) } }
            let batched = try medianMilliseconds(`repeat`) { _ = try model.forward(batch: batch, hooks: hooks, lastBlock: layer) }
            let lim = limit(model.forwardFLOPs(lengths: batch.map(\.count), lastBlock: layer))
            sets.append(PromptRow(prompts: n, tokens: batch.reduce(0) { $0 + $1.count }, one_at_a_time_ms: single, batched_ms: batched,
                                  speedup: single / batched, limit_ms: lim, batched_over_limit: batched / lim, peak_rss_mb: peakResidentMB()))
        }

        let body = model.tokenizer.encode(" " + BenchForward.text)
        var lengths: [TokenRow] = []
        for t in try counts(tokens, "tokens").sorted() {
            var ids = model.tokenize(BenchForward.text)
            while ids.count < t { ids += body }
            ids = Array(ids.prefix(t))
            try model.validate(ids)
            _ = try model.forward(ids, hooks: .none)
            var recorded = 0
            let full = try medianMilliseconds(`repeat`) {
                let r = try model.forward(ids, hooks: .all)
                recorded = r.cache.tensors.values.reduce(0) { $0 + $1.count } * 4
            }
            let none = try medianMilliseconds(`repeat`) { _ = try model.forward(ids, hooks: .none) }
            let lim = limit(model.forwardFLOPs(lengths: [t]))
            lengths.append(TokenRow(tokens: t, full_cache_ms: full, no_cache_ms: none, limit_ms: lim, full_cache_over_limit: full / lim,
                                    no_cache_over_limit: none / lim, recorded_mb: Double(recorded) / 1e6, peak_rss_mb: peakResidentMB()))
        }

        let out = Output(model: model.name, matrix_product: MatrixProduct.library, peak_gflops: peak, repeats: `repeat`,
                         lengths: lengths, prompt_sets: sets)
        if json {
            print(try jsonLine(out))
            return
        }
        print("\(model.name), median of \(`repeat`); products: \(out.matrix_product), \(String(format: "%.0f", peak)) GFLOP/s on a 2048³ sgemm")
        print("tokens   full cache   × limit    no cache   × limit     limit   recorded   peak RSS")
        for r in lengths {
            print(String(format: "%6d  %8.1f ms  %6.2f×  %8.1f ms  %6.2f×  %6.1f ms  %6.0f MB  %6.0f MB", r.tokens, r.full_cache_ms,
                         r.full_cache_over_limit, r.no_cache_ms, r.no_cache_over_limit, r.limit_ms, r.recorded_mb, r.peak_rss_mb))
        }
        print("prompts (builtin:topics-small, block \(layer)'s MLP activations)")
        print("prompts  tokens   one at a time     batched   speed-up   × limit   peak RSS")
        for r in sets {
            print(String(format: "%7d  %6d  %11.1f ms  %7.1f ms  %7.2f×  %6.2f×  %6.0f MB", r.prompts, r.tokens, r.one_at_a_time_ms,
                         r.batched_ms, r.speedup, r.batched_over_limit, r.peak_rss_mb))
        }
    }
}

struct BenchBLAS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blas",
        abstract: "Measure every matrix-product library that opens here at the shapes the model's passes run.",
        discussion: """
        Opens each library LOUPE_BLAS can name (openblas, blis, mkl, onednn)
        and each --library file, checks its products against the built-in
        one, and times the model's own products: the projections, the MLP
        and the unembedding of a 64- and a 1024-token pass, attention's
        256-query blocks at 1024 tokens, and a 2048³ product for the peak.
        Each figure is the best of --repeat timings, libraries taken in turn.
        It then sums each library's time over a pass's products and names the
        fastest: set LOUPE_BLAS to use it. The library in use is never
        changed by this command.

        Example:
          loupe bench blas --library ./numpy.libs/libscipy_openblas64_.so --json
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .customLong("library"), help: ArgumentHelp("A library file to measure too (repeatable).", valueName: "path"))
    var libraries: [String] = []
    @Option(help: "Timings per shape; the best is kept.") var `repeat` = 5
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1 ... 100).contains(`repeat`) else { throw ValidationError("--repeat must be 1 to 100") }
    }

    /// One product a pass runs: C [m, n] = A [m, k] · op(B).
    struct Shape {
        let what: String
        let m, n, k: Int
        let transB: Bool
        /// How many times a pass of `tokens` tokens runs it (0: not part of a pass).
        let perPass: [Int: Int]
    }

    func shapes(_ c: ModelConfig) -> [Shape] {
        let q = c.heads * c.headDim, kv = c.kvHeads * c.headDim, layers = c.layers
        var list: [Shape] = []
        for t in [64, 1024] {
            list += [
                Shape(what: "query projection", m: t, n: q, k: c.dModel, transB: true, perPass: [t: layers]),
                Shape(what: "key, value projection", m: t, n: kv, k: c.dModel, transB: true, perPass: [t: 2 * layers]),
                Shape(what: "attention output", m: t, n: c.dModel, k: q, transB: true, perPass: [t: layers]),
                Shape(what: "MLP in", m: t, n: c.dMLP, k: c.dModel, transB: true, perPass: [t: (c.gatedMLP ? 2 : 1) * layers]),
                Shape(what: "MLP out", m: t, n: c.dModel, k: c.dMLP, transB: true, perPass: [t: layers]),
            ]
        }
        // The unembedding's rows are independent: a 1024-token pass's is
        // counted as 16 of the 64-row product (one at 1024 rows is 58 GFLOP,
        // too long to time in every library).
        list.append(Shape(what: "unembedding", m: 64, n: c.vocabularySize, k: c.dModel, transB: true, perPass: [64: 1, 1024: 16]))
        // At 1024 tokens a head's queries come in four blocks of 256, seeing
        // on average 640 keys; timed at the middle block's 512.
        list.append(Shape(what: "attention scores (256-query block)", m: 256, n: 512, k: c.headDim, transB: true,
                          perPass: [1024: 4 * c.heads * layers]))
        list.append(Shape(what: "attention values (256-query block)", m: 256, n: c.headDim, k: 512, transB: false,
                          perPass: [1024: 4 * c.heads * layers]))
        list.append(Shape(what: "peak", m: 2048, n: 2048, k: 2048, transB: false, perPass: [:]))
        return list
    }

    struct Row: Encodable {
        let product: String
        let m, n, k: Int
        let gflops: [String: Double]
    }

    struct Output: Encodable {
        let model: String
        let in_use: String
        let libraries: [String: String]
        let failed: [String: String]
        let products: [Row]
        /// Each library's summed time over the products of a pass, in ms.
        let pass_ms: [String: [String: Double]]
        let fastest: [String: String]
    }

    static let names = ["openblas", "blis", "mkl", "onednn"]

    func run() throws {
        let model = try modelOptions.load()
        let (found, failed) = MatrixLibrary.available(paths: libraries)
        var opened: [MatrixLibrary] = []
        var refused = Dictionary(failed.map { ($0.name, $0.reason) }, uniquingKeysWith: { a, _ in a })
        for library in found {
            // Float sums over 53 terms differ in order by ~1e-6 of the largest value.
            let off = library.discrepancy()
            if off <= 1e-4 { opened.append(library) } else {
                refused[library.name] = "its products differ from the built-in product by \(off) of the largest value: not used"
            }
        }
        guard !opened.isEmpty else {
            throw ValidationError("no matrix-product library opens here: \(refused.map { "\($0.key): \($0.value)" }.sorted().joined(separator: "; "))")
        }
        // Short column names: a library named by path goes by its kind.
        var labels: [String] = []
        for library in opened {
            let base = Self.names.contains(library.name) ? library.name : library.kind
            var label = base, n = 1
            while labels.contains(label) { n += 1; label = "\(base)-\(n)" }
            labels.append(label)
        }
        let list = shapes(model.config)
        var best = [[Double]](repeating: [Double](repeating: 0, count: opened.count), count: list.count)
        for _ in 0 ..< `repeat` {
            for (j, library) in opened.enumerated() {
                for (i, s) in list.enumerated() {
                    best[i][j] = max(best[i][j], library.gflops(m: s.m, n: s.n, k: s.k, transB: s.transB, repeats: 1))
                }
            }
        }
        var passMs: [String: [String: Double]] = [:], fastest: [String: String] = [:]
        for t in [64, 1024] {
            var totals: [String: Double] = [:]
            for (j, library) in opened.enumerated() {
                var ms = 0.0
                for (i, s) in list.enumerated() {
                    let flops: Double = Double(s.perPass[t] ?? 0) * 2 * Double(s.m * s.n * s.k)
                    ms += flops / (best[i][j] * 1e9) * 1000
                }
                totals[library.name] = ms
            }
            passMs["\(t)"] = totals
            fastest["\(t)"] = totals.min { $0.value < $1.value }!.key
        }
        let out = Output(model: model.name, in_use: MatrixProduct.library,
                         libraries: Dictionary(uniqueKeysWithValues: opened.map { ($0.name, $0.description) }),
                         failed: refused,
                         products: list.indices.map { i in
                             Row(product: list[i].what, m: list[i].m, n: list[i].n, k: list[i].k,
                                 gflops: Dictionary(uniqueKeysWithValues: opened.indices.map { (opened[$0].name, best[i][$0]) }))
                         },
                         pass_ms: passMs, fastest: fastest)
        if json {
            print(try jsonLine(out))
            return
        }
        print("\(model.name); in use: \(out.in_use); best of \(`repeat`), GFLOP/s")
        for (library, label) in zip(opened, labels) {
            print("  \(label): \(library.description)\(label == library.name ? "" : " (\(library.name))")")
        }
        for reason in refused.values.sorted() { print("  not measured: \(reason)") }
        let width = max(6, labels.map(\.count).max()!)
        let head = "product".padding(toLength: 36, withPad: " ", startingAt: 0) + "  m × n × k".padding(toLength: 22, withPad: " ", startingAt: 0)
        print(head + labels.map { String(repeating: " ", count: width - $0.count) + $0 }.joined(separator: " "))
        for i in list.indices {
            let s = list[i]
            let shape = "  \(s.m) × \(s.n) × \(s.k)\(s.transB ? "ᵀ" : "")".padding(toLength: 22, withPad: " ", startingAt: 0)
            print(s.what.padding(toLength: 36, withPad: " ", startingAt: 0) + shape
                + opened.indices.map { j -> String in
                    let v = String(format: "%.0f", best[i][j])
                    return String(repeating: " ", count: max(0, width - v.count)) + v
                }.joined(separator: " "))
        }
        for t in [64, 1024] {
            let key = "\(t)"
            let times = zip(opened, labels).map { String(format: "%@ %.1f ms", $1, passMs[key]![$0.name]!) }.joined(separator: ", ")
            print("products of a \(t)-token pass: \(times); fastest: LOUPE_BLAS=\(fastest[key]!)")
        }
    }
}

/// The median wall time of `runs` calls of `body`, in milliseconds.
func medianMilliseconds(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
    var times: [Double] = []
    for _ in 0 ..< max(1, runs) {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    times.sort()
    return times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
}

/// Peak resident set size of this process, in MB.
func peakResidentMB() -> Double {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    #if os(Linux)
    return Double(usage.ru_maxrss) / 1024 // kilobytes on Linux
    #else
    return Double(usage.ru_maxrss) / 1_048_576 // bytes on macOS
    #endif
}

struct BenchRender: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Time drawing and encoding each view in each format.",
        discussion: """
        Analyses a fixed 24-token prompt once (the model is needed only for
        that), then draws and writes each figure --repeat times per format:
        the logit lens over all 31 rows with a token in every cell, the
        attention grid of every layer and head, one annotated head, and the
        head-score map. Reports the median time per figure.

        Example:
          loupe bench render --repeat 9 --json
        """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Runs per figure; the median is reported.") var `repeat` = 7
    @Flag(help: "Print JSON.") var json = false

    static let prompt = "In 1889 the Eiffel Tower opened in Paris; it was the tallest structure in the world until"

    struct Row: Encodable {
        let figure: String
        let format: String
        let median_ms: Double
        let bytes: Int
        let width_pt: Double
        let height_pt: Double
    }

    func run() throws {
        let model = try modelOptions.load()
        var ids = model.tokenize(Self.prompt)
        while ids.count < 24 { ids += model.tokenizer.encode(" and") }
        ids = Array(ids.prefix(24))
        let input = try AnalysisInput(model: model, prompt: Self.prompt, ids: ids)
        let figures: [(name: String, view: String, options: [String: String])] = [
            ("logit-lens (31 × 24, annotated)", "logit-lens", [:]),
            ("attention grid (30 × 9)", "attention", ["mode": "grid"]),
            ("attention head (annotated)", "attention", ["layer": "17", "head": "4", "annotate": "true"]),
            ("attention scores (30 × 9)", "attention", ["mode": "scores", "annotate": "true"]),
        ]
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-bench-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var rows: [Row] = []
        for f in figures {
            let view = try Catalog.registry.view(f.view)
            let record = try FigurePipeline.analyze(view, input: input, options: try view.resolveOptions(f.options))
            let style = FigureStyle()
            let size = try FigurePipeline.size(of: record, view: view, style: style)
            for format in FigureFormat.allCases {
                let path = folder + "/figure." + format.rawValue
                let median = try medianMilliseconds(`repeat`) {
                    try FigurePipeline.write(record, view: view, to: path, format: format, style: style, writeData: false)
                }
                let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                rows.append(Row(figure: f.name, format: format.rawValue, median_ms: median, bytes: bytes,
                                width_pt: size.width, height_pt: size.height))
            }
        }
        if json {
            print(try jsonLine(rows))
            return
        }
        print("drawing and encoding, median of \(`repeat`), \(Int(FigureStyle().dpi)) dpi for PNG")
        for r in rows {
            print("  \(r.figure.padding(toLength: 34, withPad: " ", startingAt: 0)) \(r.format)  \(String(format: "%7.1f ms %8d bytes", r.median_ms, r.bytes))")
        }
    }
}

struct BenchView: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "Time a view's own work, as the view offers it.",
        discussion: """
        Each timing is run once to warm up, then --repeat times; the median is
        reported. text-deep-dream times one optimisation step: softmax of the
        logits over the vocabulary, the mixed input embeddings, the forward
        pass to the target, the backward pass to the logits and the Adam
        update, for 8 free positions after BOS and neuron 100 of block 15;
        stopping at block 15, and through the whole model and the unembedding
        as frameworks without early exit do.

        Example:
          loupe bench view text-deep-dream --repeat 9 --json
        """)

    @Argument(help: ArgumentHelp("The view.", valueName: "view")) var view: String
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Repetitions per timing; the median is reported.") var `repeat` = 9
    @Flag(help: "Print JSON.") var json = false

    struct Timing: Encodable {
        let name: String
        let median_ms: Double
    }

    struct Output: Encodable {
        let view: String
        let model: String
        let repeats: Int
        let timings: [Timing]
    }

    func run() throws {
        let registered = try Catalog.registry.view(view)
        let model = try modelOptions.load()
        let benchmarks = try registered.benchmarks(model)
        guard !benchmarks.isEmpty else {
            throw CoreError.invalidInput(view: view, detail: "it offers no timings of its own (time its drawing with loupe bench render)")
        }
        var timings: [Timing] = []
        for b in benchmarks {
            try b.step() // warm-up
            timings.append(Timing(name: b.name, median_ms: try medianMilliseconds(`repeat`) { try b.step() }))
        }
        let out = Output(view: view, model: model.name, repeats: `repeat`, timings: timings)
        if json {
            print(try jsonLine(out))
        } else {
            print("\(view) on \(model.name), median of \(`repeat`)")
            let width = timings.map(\.name.count).max() ?? 0
            for t in timings { print("  \(t.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(String(format: "%7.1f", t.median_ms)) ms") }
        }
    }
}
