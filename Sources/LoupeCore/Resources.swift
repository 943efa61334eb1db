import Foundation
import LoupeSupport

/// The files Loupe ships with its code (`Sources/LoupeCore/Resources`): the
/// page templates and the built-in prompt sets.
///
/// SwiftPM copies them into a folder beside every executable that links
/// LoupeCore (`loupe`, the test runner, a `loupe` built by a package with views
/// of its own), so they are found from any working folder. The folder is
/// looked up here rather than through `Bundle.module`, which stops the process
/// when the folder is missing; this throws a message saying what to do.
public enum LoupeResources {
    /// `$LOUPE_RESOURCES`, else the resources beside the running executable.
    public static func folder() throws -> String {
        if let env = ProcessInfo.processInfo.environment["LOUPE_RESOURCES"], !env.isEmpty {
            guard PathKind(env + "/Templates") == .directory else {
                throw CoreError.badResource(what: "LOUPE_RESOURCES", detail: "'\(printable(env, limit: 200))' has no Templates folder")
            }
            return env
        }
        if let found = located { return found }
        throw CoreError.badResource(
            what: "Loupe's resources (page templates, prompt sets)",
            detail: "no folder '*_LoupeCore.resources' is beside the executable (\(printable(executableFolder, limit: 200))); "
                + "copy it from the build folder with the executable, or set LOUPE_RESOURCES to its Resources folder")
    }

    private static let located: String? = {
        let folder = executableFolder
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        // SwiftPM names the folder PACKAGE_TARGET.resources.
        for name in names.sorted() where name.hasSuffix("_LoupeCore.resources") {
            let path = folder + "/" + name + "/Resources"
            if PathKind(path + "/Templates") == .directory { return path }
        }
        return nil
    }()

    private static var executableFolder: String {
        let executable = Bundle.main.executablePath ?? CommandLine.arguments.first ?? ""
        return URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent().path
    }
}
