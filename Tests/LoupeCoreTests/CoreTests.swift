import Foundation
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
