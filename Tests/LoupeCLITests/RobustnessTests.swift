import Foundation
import LoupeFuzzing
import LoupeModel
import Testing

/// The reproducers of bad input, options and interrupted runs: each gives
/// one clean line and a non-zero exit (or works, where it should), and no
/// existing file is replaced by a failed command.
@Suite struct RobustnessTests {
    let errors = CLIErrorTests()

    /// Runs `arguments` and checks the exit and the one-line message, within
    /// `seconds` (a hang is a failure, not a stuck suite).
    func refused(_ arguments: [String], containing needle: String, seconds: Double = 60,
                 sourceLocation: SourceLocation = #_sourceLocation) throws {
        let start = Date()
        try errors.expectOneLineError(arguments, containing: needle, sourceLocation: sourceLocation)
        #expect(Date().timeIntervalSince(start) < seconds, "took \(Date().timeIntervalSince(start)) s", sourceLocation: sourceLocation)
    }

    @Test func aFIFOAsTheModelIsRefusedNotWaitedOn() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(mkfifo(folder + "/model", 0o644) == 0)
        // Opening a FIFO for reading blocks until a writer comes: Loupe must not open it.
        try refused(["inspect", "--model", folder + "/model"], containing: "is a FIFO (named pipe), not a model file", seconds: 20)
        try refused(["render", "logit-lens", "--model", Paths.tinyGGUF, "--prompt", "a", "--options", folder + "/model", "-o", folder + "/x.png"],
                    containing: "is a FIFO (named pipe), not a regular file", seconds: 20)
    }

    @Test func figureSizesAndViewOptionsHaveBounds() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let base = ["render", "logit-lens", "--model", Paths.tinyGGUF, "--prompt", "a b"]
        try refused(base + ["--width", "1e300in", "-o", folder + "/w.png"], containing: "--width 1e300in is outside 0.5in to 200in")
        try refused(base + ["--width", "1e9in", "-o", folder + "/w.svg"], containing: "--width 1e9in is outside 0.5in to 200in")
        try refused(base + ["--height", "0.1in", "-o", folder + "/w.svg"], containing: "--height 0.1in is outside")
        try refused(["render", "text-deep-dream", "--model", Paths.tinyGGUF, "--prompt", "a b", "--set", "layer=0",
                     "--set", "show=1000000000000", "-o", folder + "/d.png"], containing: "option 'show': '1000000000000' is not a whole number from 1 to 64")
        try refused(["render", "logit-lens", "--model", Paths.tinyGGUF, "--ids", "-1", "-o", folder + "/i.png"], containing: "--ids: -1 is not a token id")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    @Test func aBillionLaughsOptionsFileIsReadAsNodes() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var yaml = "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
        var previous = "a"
        for name in ["b", "c", "d", "e", "f", "g", "h", "i", "j"] {
            yaml += "\(name): &\(name) [" + Array(repeating: "*" + previous, count: 9).joined(separator: ", ") + "]\n"
            previous = name
        }
        try yaml.write(toFile: folder + "/lol.yml", atomically: true, encoding: .utf8)
        try refused(["render", "logit-lens", "--model", Paths.tinyGGUF, "--prompt", "a", "--options", folder + "/lol.yml", "-o", folder + "/x.png"],
                    containing: "option 'a' must be a single value", seconds: 20)
    }

    @Test func specialFilesAreNeverReplacedByOutputs() throws {
        // /dev/null is a character device: as root, a rename onto it would replace it.
        try refused(["render", "logit-lens", "--model", Paths.tinyGGUF, "--prompt", "a", "-o", "/dev/null"],
                    containing: "-o '/dev/null' is a character device")
        try refused(["run", "--model", Paths.tinyGGUF, "--prompt", "a", "--out", "/dev/null"],
                    containing: "cannot write '/dev/null': it is a character device")
        var info = stat()
        #expect(stat("/dev/null", &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR)
        #expect(!FileManager.default.fileExists(atPath: "/dev/null.png") && !FileManager.default.fileExists(atPath: "/dev/null.json"))
    }

    /// A FIFO where a gallery's manifest goes is neither read (it would
    /// block) nor replaced.
    @Test func aFIFOAsTheGalleryManifestIsRefused() throws {
        let g = try TinyGallery()
        defer { g.remove() }
        try FileManager.default.createDirectory(atPath: g.out, withIntermediateDirectories: true)
        #expect(mkfifo(g.out + "/manifest.json", 0o644) == 0)
        try refused(["gallery", g.spec, "--out", g.out], containing: "manifest.json': it is a FIFO (named pipe)")
        var info = stat()
        #expect(stat(g.out + "/manifest.json", &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO)
    }

    /// A failed command leaves the previous figure and its data as they were:
    /// here the data cannot be written (a folder has its name), so the new
    /// figure must not replace the old one either.
    @Test func aFigureAndItsDataAreCommittedTogether() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let figure = folder + "/fig.png"
        try Data("the previous figure".utf8).write(to: URL(fileURLWithPath: figure))
        try FileManager.default.createDirectory(atPath: folder + "/fig.json", withIntermediateDirectories: false)
        try refused(["render", "logit-lens", "--model", Paths.tinyGGUF, "--prompt", "a b", "-o", figure],
                    containing: "cannot write '\(folder)/fig.json': it is a folder")
        #expect(try String(contentsOfFile: figure, encoding: .utf8) == "the previous figure")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["fig.json", "fig.png"])
    }

    /// SIGTERM and SIGHUP (SIGINT takes the same path) at any moment of a render leave no temporary file,
    /// and the figure and its data are either both the old ones or both new.
    @Test func interruptedRendersLeaveNoPartialFilesAndAConsistentPair() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let figure = folder + "/fig.png", data = folder + "/fig.json"
        func render(_ prompt: String) -> [String] {
            ["render", "attention", "--model", Paths.tinyGGUF, "--prompt", prompt, "--set", "mode=grid", "--dpi", "2400", "-o", figure]
        }
        let long = "a b c d e f g h i j k l m n o p a b c d e f g h i j k l m n o p"
        func pair() throws -> (Data, Data) { (try Data(contentsOf: URL(fileURLWithPath: figure)), try Data(contentsOf: URL(fileURLWithPath: data))) }
        #expect(try Loupe.run(render(long)).status == 0)
        let new = try pair()
        #expect(try Loupe.run(render("a b")).status == 0)
        let old = try pair()
        var interrupted = 0
        // SIGTERM and SIGHUP: a test runner may start its children with SIGINT
        // ignored, and Loupe keeps an ignored signal ignored (as nohup needs).
        for (k, delay) in stride(from: 0.05, through: 1.2, by: 0.07).enumerated() {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Loupe.executable)
            process.arguments = render(long)
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: delay)
            if process.isRunning { kill(process.processIdentifier, k % 2 == 0 ? SIGTERM : SIGHUP) }
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal { interrupted += 1 }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".partial") }
            #expect(leftovers.isEmpty, "after \(delay) s: \(leftovers)")
            let now = try pair()
            #expect((now.0 == old.0 && now.1 == old.1) || (now.0 == new.0 && now.1 == new.1), "after \(delay) s: a mixed pair")
            // Start each trial from the old pair again.
            if now.0 == new.0 { #expect(try Loupe.run(render("a b")).status == 0) }
        }
        #expect(interrupted > 0, "no run was interrupted: the renders finished before every signal")
    }

    @Test func anInterruptedGalleryResumesWithWhatIsLeft() throws {
        let figures = TinyGallery.figures + """

              - name: grid
                view: attention
                prompts: all
                options: {mode: grid}
              - name: scores
                view: attention
                prompts: all
                options: {mode: scores, score: induction}
            """
        let g = try TinyGallery(figures: figures)
        defer { g.remove() }
        // At 1200 dpi each figure takes long enough to be interrupted between two.
        let spec = try String(contentsOfFile: g.spec, encoding: .utf8).replacingOccurrences(of: "latex: true", with: "latex: true\ndpi: 1200")
        try spec.write(toFile: g.spec, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Loupe.executable)
        process.arguments = ["gallery", g.spec, "--out", g.out, "--jobs", "1"]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Interrupt as soon as the journal (the manifest) records a finished figure.
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, Date() < deadline {
            if let data = FileManager.default.contents(atPath: g.out + "/manifest.json"),
               String(decoding: data, as: UTF8.self).contains("\"rendered\"") { break }
            Thread.sleep(forTimeInterval: 0.005)
        }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let finished = Set(try g.manifest().filter { $0.value["status"] as? String == "rendered" }.keys)
        #expect(!finished.isEmpty)
        let walker = FileManager.default.enumerator(atPath: g.out)
        let leftovers = (walker?.allObjects as? [String] ?? []).filter { $0.contains(".partial") }
        #expect(leftovers.isEmpty, "\(leftovers)")

        let r = try g.run()
        #expect(r.status == 0, "\(r.stderr)")
        let status = g.status(try g.manifest())
        for id in finished { #expect(status[id] == "skipped", "\(id) was rendered again") }
        #expect(status.values.contains("rendered"), "nothing was left to render: the interrupt came too late to test resuming")
        #expect(status.values.allSatisfy { $0 == "rendered" || $0 == "skipped" }, "\(status)")
    }

    @Test func promptSetsWithWindowsLineEnds() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Four prompts a topic: each half of the tags' split needs two.
        let lines = (0 ..< 8).map { "{\"topic\": \"\($0 % 2 == 0 ? "a" : "b")\", \"text\": \"hello there \($0)\"}" }
        let set = "\u{FEFF}" + lines.joined(separator: "\r\n") + "\r\n"
        try set.write(toFile: folder + "/set.jsonl", atomically: true, encoding: .utf8)
        let r = try Loupe.run(["render", "neuron-clusters", "--model", Paths.tinyGGUF, "--set", "prompts=\(folder)/set.jsonl",
                               "--set", "layer=0", "--set", "neurons=4", "--set", "clusters=2", "-o", folder + "/nc.png"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// Names read from a file reach the terminal escaped: a metadata key
    /// holding a terminal escape (set the window title) and a bell.
    @Test func namesFromFilesAreEscapedInMessages() throws {
        let folder = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let source = Paths.fixtures + "/reference/families/refusals/unknown-key.gguf"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        let key = Data("llama.attention.temperature_tuning".utf8)
        let evil = Data(("llama.\u{1B}]0;pwned\u{07}" + String(repeating: "x", count: key.count - 16)).utf8)
        #expect(evil.count == key.count)
        let range = try #require(bytes.range(of: key))
        bytes.replaceSubrange(range, with: evil)
        try bytes.write(to: URL(fileURLWithPath: folder + "/evil.gguf"))
        let r = try Loupe.run(["inspect", "--model", folder + "/evil.gguf"])
        #expect(r.status != 0)
        #expect(!r.stderr.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, "\(r.stderr.debugDescription)")
        #expect(r.stderr.contains("\\u{1b}]0;pwned\\u{7}"), "\(r.stderr)")
    }

    @Test func aFullDiskIsNamedAsOne() {
        #expect(FileTransaction.reason(ENOSPC, "/data/out/fig.png") == "no space left on the device holding '/data/out' (the disk is full)")
        #expect(FileTransaction.reason(EROFS, "fig.png") == "'.' is on a read-only file system")
    }

    /// Every committed seed and every past finding of the fuzz targets (see
    /// Fuzz/README.md) runs without a trap or an unclean message; the seeds
    /// themselves are good input, so that fuzzing starts deep in each reader.
    @Test(arguments: FuzzTarget.allCases) func fuzzCorpusReplays(_ target: FuzzTarget) throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus/\(target.rawValue)").path
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(!names.isEmpty)
        for name in names {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
            do { try target.run(bytes) } catch let finding as FuzzFinding {
                Issue.record("\(target.rawValue)/\(name): \(finding)")
            } catch {
                // Refusal seeds are refused; other seeds must be accepted (a
                // gallery seed names prompt sets and dashboards beside it,
                // which the target does not have).
                if !name.contains("refusal"), name.hasPrefix("seed-"), target != .spec {
                    Issue.record("seed \(target.rawValue)/\(name) is refused: \(error)")
                }
            }
        }
    }
}

/// `redraw` trusts no record: every array of every view's example records,
/// shortened by one, emptied, or given a value of ±1e308, is refused with a
/// line naming the field, or drawn; never a trap or a hang.
@Suite struct RecordMutationTests {
    static let snapshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("LoupeViewsTests/__Snapshots__").path

    static var records: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: snapshots)) ?? [])
            .filter { $0.hasSuffix(".json") && !$0.hasPrefix("dashboard") }.sorted()
    }

    /// Paths of the arrays under `data`: every array of objects, and the
    /// first and last element of every array (enough to reach each field
    /// without millions of cases).
    static func arrayPaths(_ value: Any, _ path: [Any] = []) -> [[Any]] {
        if let d = value as? [String: Any] {
            return d.keys.sorted().flatMap { arrayPaths(d[$0]!, path + [$0]) }
        }
        guard let a = value as? [Any] else { return [] }
        var out = [path]
        for i in Set([0, a.count - 1]) where a.indices.contains(i) { out += arrayPaths(a[i], path + [i]) }
        return out
    }

    static func update(_ value: Any, at path: ArraySlice<Any>, _ change: (Any) -> Any) -> Any {
        guard let head = path.first else { return change(value) }
        if var d = value as? [String: Any], let k = head as? String {
            d[k] = update(d[k]!, at: path.dropFirst(), change)
            return d
        }
        if var a = value as? [Any], let i = head as? Int {
            a[i] = update(a[i], at: path.dropFirst(), change)
            return a
        }
        return value
    }

    @Test(arguments: records) func mutatedRecordsAreRefusedOrDrawn(_ name: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.snapshots + "/" + name))
        let root = try #require(try JSONSerialization.jsonObject(with: bytes) as? [String: Any])
        let paths = Self.arrayPaths(root["data"]!, ["data"])
        #expect(!paths.isEmpty)
        var refused = 0, cases = 0
        for path in paths {
            let mutations: [(String, (Any) -> Any)] = [
                ("shortened", { ($0 as? [Any]).map { Array($0.dropLast()) } ?? $0 }),
                ("emptied", { _ in [Any]() }),
                ("1e308", { v in (v as? [Any]).map { a in a.map { $0 is NSNumber && !($0 is Bool) ? 1e308 as Any : $0 } } ?? v }),
                ("-1e308", { v in (v as? [Any]).map { a in a.map { $0 is NSNumber && !($0 is Bool) ? -1e308 as Any : $0 } } ?? v }),
            ]
            for (what, change) in mutations {
                let mutated = Self.update(root, at: ArraySlice(path), change)
                let data = try JSONSerialization.data(withJSONObject: mutated)
                cases += 1
                do { try FuzzTarget.record.run(data) } catch let finding as FuzzFinding {
                    Issue.record("\(name) \(path) \(what): \(finding)")
                } catch {
                    refused += 1
                    #expect("\(error)".contains("'data") || "\(error)".contains("do not fit"), "\(name) \(path) \(what): \(error)")
                }
            }
        }
        #expect(refused > 0 && cases > refused, "\(name): \(refused) of \(cases) refused")
    }
}
