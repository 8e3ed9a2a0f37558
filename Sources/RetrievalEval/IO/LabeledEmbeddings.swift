/// Embeddings with one class label per row, checked to agree in count.
public struct LabeledEmbeddings: Sendable {
    public let embeddings: Matrix
    public let labels: Labels

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
    public static func read(
        embeddings path: String, labels labelsPath: String,
        format: EmbeddingFormat? = nil, dimension: Int? = nil, labelFormat: LabelReader.Format? = nil
    ) throws -> LabeledEmbeddings {
        let matrix = try EmbeddingReader.read(path, format: format, dimension: dimension)
        let labels = try LabelReader.read(labelsPath, format: labelFormat)
        return try LabeledEmbeddings(embeddings: matrix, labels: labels, embeddingsPath: path, labelsPath: labelsPath)
    }
}
