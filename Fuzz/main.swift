import Foundation
import LoupeFuzzing

// The libFuzzer driver. The target is chosen by LOUPE_FUZZ_TARGET (gguf,
// safetensors, config-tokenizer, spec, record): one binary, so the
// instrumented build is made once; `make fuzz` runs each in turn. This
// `main` hands the command line to libFuzzer's own driver.

@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<Int32>,
               _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
               _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

let name = ProcessInfo.processInfo.environment["LOUPE_FUZZ_TARGET"] ?? ""
guard let chosen = FuzzTarget(rawValue: name) else {
    FileHandle.standardError.write(Data("LOUPE_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
    exit(2)
}
nonisolated(unsafe) let target = chosen

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv) { data, size in
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    do { try target.run(bytes) } catch let finding as FuzzFinding {
        FileHandle.standardError.write(Data("finding: \(finding)\n".utf8))
        abort()
    } catch {
        // The input was refused, as bad input should be.
    }
    return 0
})
