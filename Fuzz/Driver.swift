import Foundation
import LoupeFuzzing

// libFuzzer's entry points. The target is chosen by LOUPE_FUZZ_TARGET
// (gguf, safetensors, config-tokenizer, spec, record): one binary, so the
// instrumented build is made once. `make fuzz` runs each in turn.

nonisolated(unsafe) private var target: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["LOUPE_FUZZ_TARGET"] ?? ""
    guard let t = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("LOUPE_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    target = t
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    do { try target?.run(bytes) } catch {
        FileHandle.standardError.write(Data("finding: \(error)\n".utf8))
        abort()
    }
    return 0
}
