import Foundation
import Testing

/// Headless Chromium, to open the pages Loupe writes as a reader would.
enum Browser {
    static let executable: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    static var available: Bool { executable != nil }

    struct Visit {
        /// The page's DOM after its scripts ran and its images loaded.
        let dom: String
        /// What the browser logged: console messages appear as `INFO:CONSOLE`.
        let log: String
    }

    /// Loads `page`, waits for it (virtual time: images, then the load
    /// handler), and returns its DOM; with `screenshot`, also saves one.
    static func visit(_ page: String, screenshot: String? = nil, flags: [String] = []) throws -> Visit {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-chromium-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: profile) }
        func run(_ extra: [String]) throws -> (String, String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executable!)
            // --no-sandbox: the sandbox needs user namespaces, which CI containers running as root lack.
            p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
                           "--user-data-dir=\(profile)", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                           "--window-size=1400,1800"] + flags + extra + [URL(fileURLWithPath: page).absoluteString]
            // The log goes to a file: read through a pipe after standard
            // output, a long log could fill the pipe and stall the browser.
            let out = Pipe()
            let logPath = profile + ".log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            defer { try? FileManager.default.removeItem(atPath: logPath) }
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            p.standardOutput = out
            p.standardError = log
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            try log.close()
            let e = FileManager.default.contents(atPath: logPath) ?? Data()
            return (String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        let (dom, log) = try run(["--dump-dom"])
        if let screenshot { _ = try run(["--screenshot=\(screenshot)"]) }
        return Visit(dom: dom, log: log)
    }

    /// `data-…` attributes of the page's body, which its script sets on load.
    static func bodyAttributes(_ dom: String) -> [String: String] {
        guard let start = dom.range(of: "<body"), let end = dom[start.upperBound...].firstIndex(of: ">") else { return [:] }
        let tag = dom[start.upperBound ..< end]
        var out: [String: String] = [:]
        let pattern = try! NSRegularExpression(pattern: #"([a-z-]+)="([^"]*)""#)
        let s = String(tag)
        for m in pattern.matches(in: s, range: NSRange(s.startIndex..., in: s)) {
            out[String(s[Range(m.range(at: 1), in: s)!])] = String(s[Range(m.range(at: 2), in: s)!])
        }
        return out
    }
}

@Suite(.serialized) struct BrowserTests {
    /// The gallery page driven as a reader drives it: a harness page holds
    /// it in a frame (Chromium reads a file:// frame's document with
    /// --allow-file-access-from-files), clicks a figure, presses the arrow
    /// keys and Esc, changes a filter, and writes what it saw into its body.
    @Test(.enabled(if: Browser.available, "SKIPPED: chromium is not installed (scripts/setup.sh test installs it), so the gallery page was not driven in a browser"))
    func galleryPageOpensFiguresLargeAndFilters() throws {
        let g = try TinyGallery()
        defer { g.remove() }
        let r = try g.run()
        #expect(r.status == 0, "\(r.stderr)")
        let harness = g.folder + "/harness.html"
        try """
        <!doctype html><html><body><iframe id="f" src="out/index.html#prompt=abc" width="1300" height="1600"></iframe>
        <script>
        var f = document.getElementById("f");
        f.addEventListener("load", function () {
          var d = f.contentDocument, w = f.contentWindow, out = {};
          function key(k) { d.dispatchEvent(new w.KeyboardEvent("keydown", {key: k, bubbles: true, cancelable: true})); }
          function state() { return {open: d.body.getAttribute("data-open"), hash: w.location.hash,
            caption: d.getElementById("lightbox-caption").textContent, hidden: d.getElementById("lightbox").hidden,
            image: d.getElementById("lightbox-image").getAttribute("src")}; }
          try {
            out.shown = d.body.getAttribute("data-figures-shown");
            out.prompts = Array.prototype.map.call(d.querySelectorAll("figure.thumb:not([hidden])"), function (t) { return t.getAttribute("data-prompt"); });
            d.querySelector("figure.thumb:not([hidden]) a.open").dispatchEvent(new w.MouseEvent("click", {bubbles: true, cancelable: true, button: 0}));
            out.clicked = state();
            key("ArrowRight"); out.right = state();
            key("ArrowLeft"); out.left = state();
            key("Escape"); out.escape = state();
            var select = d.getElementById("filter-view");
            select.value = "attention";
            select.dispatchEvent(new w.Event("change"));
            out.filtered = d.body.getAttribute("data-figures-shown");
            out.views = Array.prototype.map.call(d.querySelectorAll("figure.thumb:not([hidden])"), function (t) { return t.getAttribute("data-view"); });
            out.filterHash = w.location.hash;
            out.errors = d.body.getAttribute("data-script-errors");
          } catch (e) { out.error = String(e); }
          document.body.setAttribute("data-result", JSON.stringify(out));
        });
        </script></body></html>
        """.write(toFile: harness, atomically: true, encoding: .utf8)
        let visit = try Browser.visit(harness, flags: ["--allow-file-access-from-files"])
        let raw = try #require(Browser.bodyAttributes(visit.dom)["data-result"], "the harness wrote nothing: \(visit.log.suffix(2000))")
        let json = raw.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
        let out = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(json)")
        #expect(out["error"] == nil, "\(out)")
        // The address's filter: the three figures of prompt abc (lens, head, the dashboard).
        #expect(out["shown"] as? String == "3" && (out["prompts"] as? [String]) == ["abc", "abc", "abc"], "\(out)")
        func state(_ k: String) -> [String: Any] { out[k] as? [String: Any] ?? [:] }
        #expect(state("clicked")["hidden"] as? Bool == false)
        #expect(state("clicked")["open"] as? String == "fig-lens/abc", "\(state("clicked"))")
        #expect((state("clicked")["caption"] as? String)?.hasPrefix("abc · logit-lens") == true, "\(state("clicked"))")
        #expect((state("clicked")["image"] as? String)?.hasSuffix("lens/abc.png") == true, "\(state("clicked"))")
        #expect((state("clicked")["hash"] as? String)?.contains("open=fig-lens%2Fabc") == true, "\(state("clicked"))")
        #expect(state("right")["open"] as? String == "fig-head/abc", "\(state("right"))")
        #expect((state("right")["caption"] as? String)?.hasPrefix("abc · attention · annotate=true  head=0  layer=1  mode=head") == true, "\(state("right"))")
        #expect(state("left")["open"] as? String == "fig-lens/abc")
        #expect(state("escape")["hidden"] as? Bool == true && state("escape")["open"] == nil || state("escape")["open"] is NSNull)
        #expect(out["filtered"] as? String == "1" && (out["views"] as? [String]) == ["attention"], "\(out)")
        #expect(out["filterHash"] as? String == "#view=attention&prompt=abc", "\(out)")
        #expect(out["errors"] as? String == "0")
    }

    @Test(.enabled(if: Browser.available, "SKIPPED: chromium is not installed (scripts/setup.sh test installs it), so the gallery and dashboard pages were not opened in a browser"))
    func galleryAndDashboardPagesLoadInChromium() throws {
        let g = try TinyGallery()
        defer { g.remove() }
        let r = try g.run()
        #expect(r.status == 0, "\(r.stderr)")
        for (page, expectedImages) in [(g.out + "/index.html", 4), (g.out + "/dashboards/overview/abc.html", 3)] {
            let shot = g.folder + "/shot.png"
            let visit = try Browser.visit(page, screenshot: shot)
            let body = Browser.bodyAttributes(visit.dom)
            // The page's own script counts the images that loaded and the errors it saw.
            #expect(body["data-images"] == "\(expectedImages)", "\(page): \(body)")
            #expect(body["data-images-loaded"] == "\(expectedImages)", "\(page): \(body)")
            #expect(body["data-images-broken"] == "0", "\(page): \(body)")
            #expect(body["data-script-errors"] == "0", "\(page): \(body)")
            let console = visit.log.split(separator: "\n").filter { $0.contains("CONSOLE") }
            #expect(console.isEmpty, "\(page) logged: \(console)")
            // The screenshot is a real picture of the page, not a blank one.
            let png = try #require(FileManager.default.contents(atPath: shot), "no screenshot of \(page)")
            #expect(png.count > 20_000, "\(page): screenshot of \(png.count) bytes")
        }
        // A page whose figure is missing says so, on the page and to the test.
        try FileManager.default.removeItem(atPath: g.out + "/lens/abc.png")
        let broken = Browser.bodyAttributes(try Browser.visit(g.out + "/index.html").dom)
        #expect(broken["data-images-broken"] == "1", "\(broken)")
    }
}
