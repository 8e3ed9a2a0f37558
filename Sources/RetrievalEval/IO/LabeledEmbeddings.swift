/// Embeddings with one class label per row, checked to agree in count.
public struct LabeledEmbeddings: Sendable {
    /// One embedding per row.
    public let embeddings: Matrix
    /// One label per row of `embeddings`.
    public let labels: Labels
    /// `embeddings.contentHash()`, when it was computed while reading the file (`read`); nil
    /// for embeddings built in memory.
    public private(set) var embeddingsHash: String?

    /// Pairs `embeddings` with `labels`.
    /// - Throws: `InputError.countMismatch` naming both files when the counts differ.
    public init(embeddings: Matrix, labels: Labels, embeddingsPath: String = "embeddings", labelsPath: String = "labels") throws {
        guard embeddings.rows == labels.count else {
            throw InputError(
                .countMismatch, file: labelsPath,
                expected: "one label per row of \(embeddingsPath) (\(embeddings.rows) labels)",
                found: "\(labels.count) labels",
                remedy: "the two files must describe the same items in the same order")
        }
        self.embeddings = embeddings
        self.labels = labels
    }

    /// Reads and pairs an embedding file and a label file.
    ///
    /// - Parameters:
    ///   - labelsPath: the labels' file; nil when they are an array of the embeddings' own
    ///     `.npz` or `.safetensors` file (then `labelsArray` names it).
    ///   - array: the embeddings' array (tensor) in a `.npz` or `.safetensors` file.
    ///   - labelsArray: the labels' array (tensor) in a `.npz` or `.safetensors` file.
    public static func read(
        embeddings path: String, labels labelsPath: String?,
        format: EmbeddingFormat? = nil, dimension: Int? = nil, labelFormat: LabelReader.Format? = nil,
        array: String? = nil, labelsArray: String? = nil
    ) throws -> LabeledEmbeddings {
        let sameFile = labelsPath == nil || (labelsPath == path && labelsArray != nil)
        let labelsFile = labelsPath ?? path
        var labelFormat = labelFormat
        if labelsPath == nil {
            switch format ?? EmbeddingFormat.fromExtension(of: path) {
            case .npz: labelFormat = .npz
            case .safetensors: labelFormat = .safetensors
            default:
                throw InputError(
                    .countMismatch, file: path, expected: "a labels file, or --labels-array NAME in a .npz or .safetensors file",
                    found: "neither", remedy: "give the labels file after the embeddings file")
            }
        }
        if sameFile && labelsArray == nil {
            throw InputError(
                .countMismatch, file: labelsFile, expected: "--labels-array NAME naming the labels' array in this file",
                found: "no --labels-array", remedy: "pass --labels-array NAME (and --array NAME for the embeddings if there are more arrays)")
        }
        // Labels first only in one archive: a wrong --labels-array is reported as such rather
        // than as an embeddings array left ambiguous. There the embeddings are the only array
        // besides the labels'.
        func readLabels() throws -> Labels {
            try LabelReader.read(labelsFile, format: labelFormat, member: labelsArray, excluding: sameFile ? array : nil)
        }
        var labels = sameFile ? try readLabels() : nil
        let (matrix, hash) = try EmbeddingReader.read(path, format: format, dimension: dimension, array: array,
                                                      excluding: sameFile ? labelsArray : nil, hashed: true)
        if labels == nil { labels = try readLabels() }
        let shownLabels = labelsArray.map { "\(labelsFile): '\($0)'" } ?? labelsFile
        var data = try LabeledEmbeddings(embeddings: matrix, labels: labels!, embeddingsPath: path, labelsPath: shownLabels)
        data.embeddingsHash = hash
        return data
    }
}
