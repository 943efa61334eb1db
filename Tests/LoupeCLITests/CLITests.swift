import Foundation
import LoupeModel
import LoupeViews
import Testing

/// Runs the built `loupe` executable, as a user would.
struct Loupe {
    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// The executable sits beside the test bundle in the build folder.
    static let executable: String = {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("loupe").path
    }()

    static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                    in folder: String? = nil, executable: String = executable) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        // Read before waiting, so a large output cannot fill the pipe and stall.
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }
}

enum Paths {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("LoupeModelTests/Fixtures").path
    static let tiny = fixtures + "/reference/tiny"
    static let tinyGPT2 = tiny + "/tiny-gpt2"
    static let tinyLlama = tiny + "/tiny-llama"
    static let tinyGGUF = tiny + "/tiny-llama/tiny-llama-f32.gguf"

    static func temporaryFolder() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }
}

/// Bad input: one clear line on standard error and a non-zero exit.
@Suite struct CLIErrorTests {
    func expectOneLineError(_ arguments: [String], containing needle: String, environment: [String: String] = [:],
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try Loupe.run(arguments, environment: environment)
        #expect(r.status != 0, "exit status for \(arguments)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "standard error: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(needle), "standard error: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Backtrac"), sourceLocation: sourceLocation)
    }

    /// A library that was asked for and cannot be used stops the run with
    /// its name; it is never replaced by another.
    @Test func badMatrixLibraryIsNamed() throws {
        try expectOneLineError(["predict", "--model", Paths.tinyLlama, "--prompt", "hi"],
                               containing: "LOUPE_BLAS='atlas' is not a library Loupe knows", environment: ["LOUPE_BLAS": "atlas"])
        try expectOneLineError(["predict", "--model", Paths.tinyLlama, "--prompt", "hi"],
                               containing: "LOUPE_BLAS='/nonexistent/libblas.so': no such file",
                               environment: ["LOUPE_BLAS": "/nonexistent/libblas.so"])
    }

    @Test func missingModel() throws {
        try expectOneLineError(["predict", "--model", "/nonexistent/model.gguf", "--prompt", "hi"], containing: "no model at '/nonexistent/model.gguf'")
    }

    @Test func defaultModelMissingSaysHowToFetchIt() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try expectOneLineError(["predict", "--prompt", "hi"], containing: "scripts/setup.sh model", environment: ["LOUPE_CACHE": folder])
    }

    @Test func neitherGGUFNorSafetensors() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/notes.txt"
        try Data("just some text, not a model\n".utf8).write(to: URL(fileURLWithPath: path))
        try expectOneLineError(["inspect", "--model", path], containing: "is neither GGUF nor safetensors")
        try Data().write(to: URL(fileURLWithPath: path))
        try expectOneLineError(["inspect", "--model", path], containing: "the file is empty")
    }

    @Test func truncatedGGUF() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.tinyGGUF))
        let path = folder + "/cut.gguf"
        try data.prefix(data.count - 1000).write(to: URL(fileURLWithPath: path))
        try expectOneLineError(["predict", "--model", path, "--prompt", "hi"], containing: "is truncated or corrupt: at byte")
    }

    @Test func truncatedSafetensors() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: Paths.tinyGPT2 + "/" + f, toPath: folder + "/" + f)
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.tinyGPT2 + "/model.safetensors"))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: folder + "/model.safetensors"))
        try expectOneLineError(["predict", "--model", folder, "--prompt", "hi"], containing: "is truncated or corrupt")
    }

    @Test func unsupportedArchitecture() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Paths.tinyGPT2 + "/model.safetensors", toPath: folder + "/model.safetensors")
        try Data(#"{"model_type": "bert", "hidden_size": 64}"#.utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        try expectOneLineError(["inspect", "--model", folder], containing: "architecture 'bert' is not supported")
    }

    @Test func unsupportedTensorType() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var data = try Data(contentsOf: URL(fileURLWithPath: Paths.tinyGGUF))
        // Set the type of 'output_norm.weight' (1-D) to 16, IQ2_XXS.
        let name = Data("output_norm.weight".utf8)
        let at = try #require(data.range(of: name)).upperBound + 4 + 8
        data[at] = 16
        let path = folder + "/iq.gguf"
        try data.write(to: URL(fileURLWithPath: path))
        try expectOneLineError(["inspect", "--model", path], containing: "which Loupe cannot dequantize")
    }

    @Test func emptyPrompt() throws {
        try expectOneLineError(["predict", "--model", Paths.tinyGPT2, "--prompt", ""], containing: "the prompt is empty")
    }

    @Test func promptLongerThanTheContext() throws {
        let long = Array(repeating: "word", count: 300).joined(separator: " ")
        try expectOneLineError(["predict", "--model", Paths.tinyGPT2, "--prompt", long],
                               containing: "tokens but the model's context holds 128")
    }

    @Test func idOutsideTheVocabulary() throws {
        try expectOneLineError(["predict", "--model", Paths.tinyGPT2, "--ids", "1,2,512"],
                               containing: "token id 512 is outside the vocabulary (valid ids are 0 to 511)")
    }

    @Test func unknownHookPattern() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try expectOneLineError(["run", "--model", Paths.tinyGPT2, "--prompt", "hi", "--hooks", "blocks.0.hook_nope", "--out", folder + "/c.safetensors"],
                               containing: "hook pattern 'blocks.0.hook_nope' matches no hook point")
    }

    /// An empty --hooks wrote an empty cache.
    @Test func emptyHookList() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for hooks in ["", " , "] {
            try expectOneLineError(["run", "--model", Paths.tinyGPT2, "--prompt", "hi", "--hooks", hooks, "--out", folder + "/c.safetensors"],
                                   containing: "--hooks is empty")
            #expect(!FileManager.default.fileExists(atPath: folder + "/c.safetensors"))
        }
    }

    @Test func unwritableOutputFolder() throws {
        try expectOneLineError(["run", "--model", Paths.tinyGPT2, "--prompt", "hi", "--out", "/nonexistent/folder/c.safetensors"],
                               containing: "the folder '/nonexistent/folder' does not exist")
    }

    /// A model whose weights hold NaN: the error names the first hook where it shows.
    @Test func nonFiniteActivations() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: Paths.tinyGPT2 + "/" + f, toPath: folder + "/" + f)
        }
        let source = try SafetensorsFile(path: Paths.tinyGPT2 + "/model.safetensors")
        var writer = SafetensorsWriter()
        for t in source.tensors {
            var tensor = try source.tensor(t.name)
            if t.name == "transformer.h.1.mlp.c_fc.bias" { tensor.data[3] = .nan }
            writer.add(t.name, tensor)
        }
        try writer.write(to: folder + "/model.safetensors")
        try expectOneLineError(["predict", "--model", folder, "--prompt", "hello"],
                               containing: "NaN or infinity at 'blocks.1.mlp.hook_pre'")
    }

    @Test func badUsageNamesTheProblem() throws {
        let r = try Loupe.run(["predict", "--model", Paths.tinyGPT2])
        #expect(r.status != 0)
        #expect(r.stderr.contains("give the input with --prompt TEXT or --ids 1,2,3"))
        let unknown = try Loupe.run(["frobnicate"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("frobnicate"))
    }
}

/// The commands' outputs.
@Suite struct CLIOutputTests {
    @Test func everyCommandHasHelpWithAnExample() throws {
        for command in [["views"], ["render"], ["redraw"], ["inspect"], ["tokenize"], ["predict"], ["run"], ["grad"], ["bench", "forward"], ["bench", "render"], ["bench", "view"],
                        ["dashboard"], ["gallery"], ["new-view"]] {
            let r = try Loupe.run(command + ["--help"])
            #expect(r.status == 0)
            #expect(r.stdout.contains("loupe \(command.joined(separator: " "))"), "\(command) --help: \(r.stdout)")
            #expect(r.stdout.contains("Example"), "\(command) --help has no example")
        }
    }

    /// A view's own timings come through the registry.
    @Test func benchView() throws {
        let r = try Loupe.run(["bench", "view", "text-deep-dream", "--model", Paths.tinyGGUF, "--repeat", "1", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let timings = try #require(json["timings"] as? [[String: Any]])
        // The relaxed step stopping early and through the whole model, and one swap step.
        #expect(timings.count == 3 && timings.allSatisfy { ($0["median_ms"] as? Double ?? -1) > 0 })
        let none = try Loupe.run(["bench", "view", "logit-lens", "--model", Paths.tinyGGUF])
        #expect(none.status != 0 && none.stderr.split(separator: "\n").count == 1 && none.stderr.contains("offers no timings"), "\(none.stderr)")
    }

    /// The default model's logits with each other library that opens here
    /// equal those with the default OpenBLAS (which the reference tests
    /// check) to 1e-4 of the largest logit: other kernels sum in another
    /// order, which moved logits of up to 31 by 4e-5 here; a product bound wrong
    /// or threaded wrong moves them by whole units.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: Model.defaultModelPath), "the default model is needed"))
    func otherLibrariesGiveTheSameLogits() throws {
        // Per position, each top token's logit by id: close logits may swap ranks.
        func logits(_ library: String) throws -> [[Int: Double]] {
            let r = try Loupe.run(["predict", "--prompt", "The capital of France is", "--top", "20", "--json"],
                                  environment: ["LOUPE_BLAS": library])
            #expect(r.status == 0, "\(library): \(r.stderr)")
            let json = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let positions = try #require(json["positions"] as? [[String: Any]])
            return positions.map { position in
                var byID: [Int: Double] = [:]
                for entry in position["top"] as? [[String: Any]] ?? [] {
                    if let id = entry["id"] as? Int, let logit = entry["logit"] as? Double { byID[id] = logit }
                }
                return byID
            }
        }
        let reference = try logits("openblas")
        #expect(reference.count == 6 && reference.allSatisfy { $0.count == 20 })
        let scale = reference.flatMap(\.values).map(abs).max() ?? 0
        let here = Set(MatrixLibrary.available().opened.map(\.name))
        for library in ["blis", "onednn"] {
            guard here.contains(library) else {
                print("CLITests: \(library) is not installed here, so not compared (scripts/setup.sh test installs it)")
                continue
            }
            let other = try logits(library)
            #expect(other.count == reference.count, "\(library)")
            var worst = 0.0, shared = 0
            for (a, b) in zip(other, reference) {
                for (id, logit) in b { if let mine = a[id] { worst = max(worst, abs(mine - logit)); shared += 1 } }
            }
            #expect(shared >= 6 * 18, "\(library): the top 20 tokens differ beyond a swap at the edge")
            #expect(worst <= 1e-4 * scale, "\(library): largest logit difference \(worst)")
        }
    }

    @Test func predictJSON() throws {
        let r = try Loupe.run(["predict", "--model", Paths.tinyLlama, "--prompt", "The cat sat", "--top", "3", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let ids = try #require(json["ids"] as? [Int])
        #expect(ids.first == 0, "BOS prepended for llama")
        #expect((json["tokens"] as? [String])?.count == ids.count)
        let positions = try #require(json["positions"] as? [[String: Any]])
        #expect(positions.count == ids.count)
        let top = try #require(positions[0]["top"] as? [[String: Any]])
        #expect(top.count == 3)
        #expect(Set(top[0].keys) == ["id", "token", "logit", "prob"])
        #expect(positions[0]["logsumexp"] is Double)
        let noBOS = try Loupe.run(["predict", "--model", Paths.tinyLlama, "--prompt", "The cat sat", "--no-bos", "--json"])
        let ids2 = try #require((JSONSerialization.jsonObject(with: Data(noBOS.stdout.utf8)) as? [String: Any])?["ids"] as? [Int])
        #expect(ids2 == Array(ids.dropFirst()))
    }

    @Test func tokenizeFromArgumentsAndStandardInput() throws {
        let r = try Loupe.run(["tokenize", "--model", Paths.tinyGPT2, "--json", "The cat", "sat"])
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let first = try #require(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["ids"] as? [Int] == [299, 265, 282]) // "The", " c", "at" in the tiny vocabulary
        let piped = try Loupe.run(["tokenize", "--model", Paths.tinyGPT2], stdin: "\"The cat\"\n\"sat\"\n")
        #expect(piped.stdout == r.stdout)
        let bad = try Loupe.run(["tokenize", "--model", Paths.tinyGPT2], stdin: "not json\n")
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("line 1 is not a JSON string"))
    }

    @Test func inspectJSON() throws {
        let r = try Loupe.run(["inspect", "--model", Paths.tinyGGUF, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["format"] as? String == "gguf")
        let config = try #require(json["config"] as? [String: Any])
        #expect(config["layers"] as? Int == 2)
        #expect(config["kvHeads"] as? Int == 2)
        #expect((json["tensors"] as? [Any])?.count == 2 * 9 + 3)
    }

    /// `loupe run` writes a cache that Python's safetensors package reads,
    /// with the hook names, shapes without a batch dimension, and metadata.
    @Test func runWritesSafetensorsThatPythonReads() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let out = folder + "/cache.safetensors"
        let r = try Loupe.run(["run", "--model", Paths.tinyLlama, "--prompt", "The cat sat on the mat.", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let file = try SafetensorsFile(path: out)
        #expect(file.info("blocks.1.attn.hook_pattern")?.shape == [4, 11, 11])
        #expect(file.info("blocks.0.mlp.hook_post")?.shape == [11, 176])
        #expect(file.info("blocks.0.attn.hook_k")?.shape == [11, 2, 16])
        #expect(try file.int32s("tokens") == [0, 299, 265, 282, 261, 282, 298, 260, 276, 282, 14])
        #expect(file.metadata["prompt"] == "The cat sat on the mat.")

        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = """
        import sys
        from safetensors import safe_open
        with safe_open(sys.argv[1], "np") as f:
            meta = f.metadata()
            assert meta["prompt"] == "The cat sat on the mat.", meta
            p = f.get_tensor("blocks.1.attn.hook_pattern")
            assert p.shape == (4, 11, 11), p.shape
            assert abs(p.sum(-1) - 1).max() < 1e-5
            t = f.get_tensor("tokens")
            assert t.dtype.name == "int32" and t.tolist()[0] == 0
            print(len(f.keys()))
        """
        check.arguments = ["python3", "-c", script, out]
        let pipe = Pipe(), errPipe = Pipe()
        check.standardOutput = pipe
        check.standardError = errPipe
        try check.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        check.waitUntilExit()
        if err.contains("No module named 'safetensors'") {
            withKnownIssue("Python's safetensors package is not installed; 'make test' installs it") { throw CancellationError() }
            return
        }
        #expect(check.terminationStatus == 0, "python: \(err)")
        #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == String(file.tensors.count))
    }
}

/// `views`, `render` and `redraw`.
@Suite struct CLIFigureTests {
    @Test func viewsListsEveryViewWithItsOptions() throws {
        let r = try Loupe.run(["views", "--json"])
        #expect(r.status == 0)
        let views = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(views.compactMap { $0["id"] as? String } == BuiltinViews.registry.ids)
        let lens = try #require(views.first { $0["id"] as? String == "logit-lens" })
        let options = try #require(lens["options"] as? [[String: Any]])
        let metric = try #require(options.first { $0["name"] as? String == "metric" })
        #expect(metric["type"] as? String == "choice" && metric["default"] as? String == "top-prob")
        #expect((metric["allowed"] as? [String])?.contains("kl-final") == true)
        let stride = try #require(options.first { $0["name"] as? String == "stride" })
        #expect(stride["minimum"] as? Double == 1 && stride["maximum"] as? Double == 4096)
    }

    /// Render writes the figure and its data; redraw needs no model at all.
    @Test func renderThenRedrawWithoutTheModel() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let r = try Loupe.run(["render", "logit-lens", "--model", Paths.tinyLlama, "--prompt", "The cat sat on the mat.",
                               "--set", "metric=entropy", "-o", folder + "/lens.png"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder + "/lens.png"))
        let record = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/lens.json"))) as? [String: Any])
        #expect(record["view"] as? String == "logit-lens")
        #expect(record["prompt"] as? String == "The cat sat on the mat.")
        #expect((record["options"] as? [String: Any])?["metric"] as? String == "entropy")
        #expect(record["loupe_version"] is String && record["model"] is String && record["data"] is [String: Any])

        let empty = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let redraw = try Loupe.run(["redraw", folder + "/lens.json", "--format", "pdf", "--theme", "paper", "--width", "3.25in"],
                                   environment: ["LOUPE_CACHE": empty])
        #expect(redraw.status == 0, "\(redraw.stderr)")
        let pdf = try String(decoding: Data(contentsOf: URL(fileURLWithPath: folder + "/lens.pdf")), as: UTF8.self)
        #expect(pdf.contains("/MediaBox [ 0 0 234 "), "3.25 in wide")
        // Without -o, redraw never replaces a figure that is already there.
        let before = try Data(contentsOf: URL(fileURLWithPath: folder + "/lens.png"))
        let again = try Loupe.run(["redraw", folder + "/lens.json", "--theme", "dark"], environment: ["LOUPE_CACHE": empty])
        #expect(again.status != 0 && again.stderr.contains("exists: name the new figure with -o"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder + "/lens.png")) == before)
    }

    @Test func figureErrorsAreOneLine() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cases: [([String], String)] = [
            (["render", "logit-len", "--model", Paths.tinyGPT2, "--prompt", "hi"], "unknown view 'logit-len'"),
            (["render", "attention", "--model", Paths.tinyGPT2, "--prompt", "hi", "--set", "mode=table"],
             "view 'attention' option 'mode': 'table' is not one of head, grid, scores"),
            (["render", "attention", "--model", Paths.tinyGPT2, "--prompt", "hi", "--set", "colour=magma"],
             "view 'attention' has no option 'colour'"),
            (["render", "attention", "--model", Paths.tinyGPT2, "--prompt", "hi", "--set", "layer=7"],
             "layer 7 is out of range (the model has blocks 0 to 1)"),
            (["render", "attention", "--model", Paths.tinyGPT2, "--prompt", "hi", "-o", "/nonexistent/a.png"],
             "the folder '/nonexistent' does not exist"),
            (["redraw", folder + "/missing.json"], "cannot read figure data"),
            // An extension that is not a figure format was written as fig.gif.png.
            (["render", "attention", "--model", Paths.tinyGPT2, "--prompt", "hi", "-o", folder + "/fig.gif"],
             "'.gif' is not a figure format (png, svg, pdf)"),
        ]
        for (arguments, needle) in cases {
            let r = try Loupe.run(arguments)
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(needle), "\(arguments): \(r.stderr)")
        }
        let badWidth = try Loupe.run(["render", "attention", "--prompt", "hi", "--width", "wide"])
        #expect(badWidth.status != 0 && badWidth.stderr.contains("'wide' is not a length"))
    }
}

/// `loupe grad`.
@Suite struct CLIGradTests {
    @Test func writesTheGradientAndTheObjective() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let out = folder + "/g.safetensors"
        let r = try Loupe.run(["grad", "--model", Paths.tinyLlama, "--prompt", "The cat sat", "--objective", "neuron:1:7@-1", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let file = try SafetensorsFile(path: out)
        #expect(file.info("grad_embed")?.shape == [6, 64]) // BOS, "The", " c", "at", " s", "at"
        #expect(file.info("objective")?.shape == [])
        #expect(try file.int32s("tokens").count == 6)
        // A direction from a text file, and one summed neuron.
        try Data(Array(repeating: "0.125", count: 64).joined(separator: " ").utf8).write(to: URL(fileURLWithPath: folder + "/v.txt"))
        for spec in ["direction:0:\(folder)/v.txt@1", "neuron:0:3@sum", "logit:42"] {
            let g = try Loupe.run(["grad", "--model", Paths.tinyGPT2, "--prompt", "The cat sat", "--objective", spec, "--out", out])
            #expect(g.status == 0, "\(spec): \(g.stderr)")
        }
    }

    @Test func badObjectivesAreOneLineErrors() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Data([0, 0, 128, 63]).write(to: URL(fileURLWithPath: folder + "/short.f32"))
        let cases: [(String, String)] = [
            ("neuron:5:0", "layer 5 is out of range (the model has blocks 0 to 1)"),
            ("neuron:0:9999", "neuron 9999 is out of range"),
            ("logit:42@7", "position 7 is outside the prompt's 6 tokens"),
            ("direction:0:\(folder)/short.f32", "the direction in '\(folder)/short.f32' has 1 values but the residual stream has 64"),
            ("attention:1", "it must start with neuron:, logit: or direction:"),
            ("neuron:0:x", "'x' is not a neuron index"),
            ("direction:0:\(folder)/missing@home.f32", "direction file '\(folder)/missing@home.f32': no such file"),
        ]
        for (spec, needle) in cases {
            let r = try Loupe.run(["grad", "--model", Paths.tinyLlama, "--prompt", "The cat sat", "--objective", spec, "--out", folder + "/g.safetensors"])
            #expect(r.status != 0, "\(spec)")
            #expect(r.stderr.contains(needle), "\(spec): \(r.stderr)")
        }
    }
}

/// Templates and prompt sets travel with the executable: `loupe` works from
/// any folder, and says what is wrong when they were left behind.
@Suite struct ResourceTests {
    @Test func worksFromAnyFolder() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let spec = """
        prompt: "The Eiffel Tower is in"
        panels:
          - view: logit-lens
          - view: neuron-clusters
            options: {layer: 1, neurons: 8, clusters: 2}
        """
        try spec.write(toFile: folder + "/page.yml", atomically: true, encoding: .utf8)
        let out = try Loupe.run(["dashboard", "page.yml", "--format", "html", "-o", "page.html", "--model", Paths.tinyGGUF],
                                in: folder)
        #expect(out.status == 0, "\(out.stderr)")
        let html = try String(contentsOfFile: folder + "/page.html", encoding: .utf8)
        #expect(html.contains("<html"))
        // The clusters read the default prompt set, shipped with Loupe.
        let record = try String(contentsOfFile: folder + "/page_files/b-neuron-clusters.json", encoding: .utf8)
        #expect(record.contains("\"prompts\":\"builtin:topics\""))
    }

    @Test func missingResourcesAreOneLine() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let lonely = folder + "/loupe"
        try FileManager.default.copyItem(atPath: Loupe.executable, toPath: lonely)
        try "panels: [{view: logit-lens}]".write(toFile: folder + "/page.yml", atomically: true, encoding: .utf8)
        let out = try Loupe.run(["dashboard", "page.yml", "--format", "html", "--prompt", "Hi", "-o", "page.html",
                                 "--model", Paths.tinyGGUF], in: folder, executable: lonely)
        #expect(out.status != 0)
        #expect(out.stderr.split(separator: "\n").count == 1, "\(out.stderr)")
        #expect(out.stderr.contains("_LoupeCore.resources"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/page.html"))
        let set = try Loupe.run(["render", "neuron-clusters", "--set", "prompts=builtin:nope", "--set", "layer=1", "-o", "c.png",
                                 "--model", Paths.tinyGGUF], in: folder)
        #expect(set.status != 0)
        #expect(set.stderr.contains("ships no such prompt set (it has builtin:topics"), "\(set.stderr)")
    }
}
