import Foundation
import LoupeModel
import Testing

/// What figures say of their model: the file, the family and the storage
/// of the weight matrices.
@Suite struct ModelIdentityTests {
    /// The default file is SmolLM2-135M-Instruct in Q4_1, with its token
    /// embedding (tied: also the unembedding) in Q8_0, as `loupe inspect`
    /// lists its tensors. Its own `general.name` does not say Instruct:
    /// the file name does.
    @Test func theDefaultModel() throws {
        let id = try loadSmolLM2().identity
        #expect(id.file == "SmolLM2-135M-Instruct.Q4_1.gguf")
        #expect(id.family == "llama")
        #expect(id.quantisation == "Q4_1 (4-bit); Q8_0 embedding")
        #expect(id.caption == "SmolLM2-135M-Instruct.Q4_1.gguf · llama family · Q4_1 (4-bit); Q8_0 embedding")
    }

    @Test func floatCheckpoints() throws {
        let gpt2 = try Model(path: Fixtures.tiny + "/tiny-gpt2").identity
        #expect(gpt2.file == "tiny-gpt2" && gpt2.family == "gpt2" && gpt2.quantisation == "F32 (32-bit)")
        let gguf = try Model(path: Fixtures.tiny + "/tiny-llama/tiny-llama-f32.gguf").identity
        #expect(gguf.file == "tiny-llama-f32.gguf" && gguf.family == "llama" && gguf.quantisation == "F32 (32-bit)")
        // A folder given with a trailing slash is still named by the folder.
        #expect(try Model(path: Fixtures.tiny + "/tiny-llama/").identity.file == "tiny-llama")
    }
}
