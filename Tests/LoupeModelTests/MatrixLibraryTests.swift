import Foundation
@testable import LoupeModel
import Testing

/// The matrix-product libraries `LOUPE_BLAS` can choose, bound correctly.
@Suite struct MatrixLibraryTests {
    /// Each library that opens here multiplies as the built-in product does,
    /// in every transpose, with padded rows and both alpha and beta in use.
    /// Tolerance 1e-5 of the largest value: sums of 53 float products of
    /// magnitude ≤ 1 differ by summation order by a few 1e-7; arguments
    /// passed in the wrong order or size give differences of order 1.
    @Test func everyLibraryHereMatchesTheBuiltInProduct() {
        let (opened, failed) = MatrixLibrary.available()
        for (name, reason) in failed {
            print("MatrixLibraryTests: \(name) not tested here: \(reason)")
        }
        #expect(opened.contains { $0.kind == "openblas" }, "Debian's OpenBLAS is what set-up installs")
        for library in opened {
            let off = library.discrepancy()
            #expect(off <= 1e-5, "\(library.name) (\(library.description)) is off by \(off)")
            #expect(library.gflops(m: 64, n: 64, k: 64, transB: true, repeats: 1) > 0)
        }
    }

    @Test func unknownNamesAndMissingFilesAreRefusedByName() throws {
        #expect(throws: BLAS.LoadError.self) { try BLAS.open("atlas") }
        do {
            _ = try BLAS.open("atlas")
        } catch {
            #expect(error.description.contains("LOUPE_BLAS='atlas' is not a library Loupe knows"))
            #expect(error.description.contains("openblas, blis, mkl, onednn, builtin"))
        }
        do {
            _ = try BLAS.open("/nonexistent/libsgemm.so")
            Issue.record("a missing file opened")
        } catch {
            #expect(error.description.contains("no such file"), "\(error)")
        }
        // A file that is not a library at all.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-\(UUID().uuidString).so").path
        try Data("not a library".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try BLAS.open(path)
            Issue.record("a text file opened as a library")
        } catch {
            #expect(error.description.hasPrefix("LOUPE_BLAS=\(path): cannot open the library"), "\(error)")
        }
    }

    /// The default (unset or "auto") is a real BLAS on a machine set-up
    /// prepared, never the slow built-in product.
    @Test func theDefaultIsOpenBLAS() throws {
        #expect(try BLAS.open(nil).kind == "openblas")
        #expect(try BLAS.open("auto").kind == "openblas")
        #expect(try BLAS.open("builtin").kind == "builtin")
    }
}
