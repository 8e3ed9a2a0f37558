/// The on-disk formats dmleval reads embeddings from (see docs/formats.md for byte layouts).
public enum EmbeddingFormat: String, Sendable, CaseIterable {
    /// NumPy `.npy`, versions 1.0 to 3.0, 2-D, float16, float32 or float64, either byte order, C or Fortran order.
    case npy
    /// big-ann-benchmarks `.fbin` (also `.bin`): uint32 n, uint32 d, n*d float32.
    case fbin
    /// TEXMEX `.fvecs`: per row an int32 d followed by d float32.
    case fvecs
    /// Raw little-endian float32 with the dimension given separately.
    case raw
    /// NumPy `.npz`: a zip of `.npy` members (stored or deflated); one is chosen by name.
    case npz
    /// Hugging Face `.safetensors`: F32, F16 or BF16 tensors; one is chosen by name.
    case safetensors

    /// The format a file name's extension names, or nil when it names none.
    public static func fromExtension(of path: String) -> EmbeddingFormat? {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return nil }
        switch path[path.index(after: dot)...].lowercased() {
        case "npy": return .npy
        case "fbin", "bin": return .fbin
        case "fvecs": return .fvecs
        case "raw", "f32": return .raw
        case "npz": return .npz
        case "safetensors": return .safetensors
        default: return nil
        }
    }
}
