import Foundation
import Synchronization
@testable import LoupeCore
import Testing

@Suite struct OptionsFileTests {
    @Test func yamlAndJSONMappings() throws {
        #expect(try OptionsFile.parse("metric: entropy\nstride: 2\nflip: true\n", source: "a.yml") == ["metric": "entropy", "stride": "2", "flip": "true"])
        #expect(try OptionsFile.parse(#"{"mode": "grid", "layer": 3}"#, source: "a.json") == ["mode": "grid", "layer": "3"])
        #expect(throws: CoreError.self) { try OptionsFile.parse("- a\n- b\n", source: "list.yml") }
        #expect(throws: CoreError.self) { try OptionsFile.parse("a: [1, 2]\n", source: "nested.yml") }
        // Scalars are kept as written: the option's own type decides what `no` means.
        #expect(try OptionsFile.parse("title: no\nflip: yes\n", source: "a.yml") == ["title": "no", "flip": "yes"])
        #expect(try OptionsFile.parse("", source: "empty.yml") == [:])
        #expect(try OptionsFile.parse("# nothing set\n", source: "comment.yml") == [:])
        #expect(try OptionsFile.parseAssignments(["a=1", "title=x=y"]) == ["a": "1", "title": "x=y"])
        #expect(throws: CoreError.self) { try OptionsFile.parseAssignments(["novalue"]) }
    }

    @Test func suggestions() {
        #expect(closest(to: "colour", in: ["colormap", "metric"]) == "colormap")
        #expect(closest(to: "zzz", in: ["colormap", "metric"]) == nil)
        #expect(closest(to: "metrc", in: ["colormap", "metric"]) == "metric")
        #expect(closest(to: "atention", in: ["attention", "logit-lens"]) == "attention")
    }
}

@Suite struct DigestTests {
    /// FIPS 180-2's published test vectors, and the same digest fed in pieces.
    @Test func sha256KnownAnswers() {
        #expect(SHA256.hash(data: Data()).hexDigits == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash(data: Data("abc".utf8)).hexDigits == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(SHA256.hash(data: Data(long.utf8)).hexDigits == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var pieces = SHA256()
        for chunk in stride(from: 0, to: long.utf8.count, by: 7) {
            pieces.update(data: Data(Array(long.utf8)[chunk ..< min(chunk + 7, long.utf8.count)]))
        }
        #expect(pieces.finalize().hexDigits == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }
}

@Suite struct SchedulerTests {
    /// Every item runs once, after its dependencies, never more than `jobs` at once.
    @Test(arguments: [1, 2, 5])
    func dependenciesAndWidth(jobs: Int) {
        // 0 ← 3, 1 ← 3, 3 ← 6, and 2, 4, 5, 7 free.
        let dependencies = [[], [], [], [0, 1], [], [], [3], []]
        let log = Mutex((order: [Int](), running: 0, widest: 0))
        Scheduler(work: Array(0 ..< 8), dependencies: dependencies, jobs: jobs).run { i in
            log.withLock { $0.running += 1; $0.widest = max($0.widest, $0.running) }
            usleep(2000)
            log.withLock { $0.running -= 1; $0.order.append(i) }
        }
        let (order, _, widest) = log.withLock { $0 }
        #expect(order.sorted() == Array(0 ..< 8))
        for (i, deps) in dependencies.enumerated() {
            for d in deps { #expect(order.firstIndex(of: d)! < order.firstIndex(of: i)!) }
        }
        #expect(widest <= jobs)
    }
}

@Suite struct ManifestTests {
    /// Options in the manifest keep the types the view encoded: an integer is
    /// not read back as a boolean, a whole number stays written as one.
    @Test func jsonValuesKeepTheirTypes() throws {
        let text = #"{"a":1,"b":true,"c":"x","d":[1.5,null],"e":{"f":0}}"#
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(value == .object(["a": .number(1), "b": .bool(true), "c": .string("x"),
                                  "d": .array([.number(1.5), .null]), "e": .object(["f": .number(0)])]))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(String(decoding: try encoder.encode(value), as: UTF8.self) == text)
    }
}
