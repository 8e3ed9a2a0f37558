import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// The main job's TREC outputs: its k-NN lists as a run (--save-run) and the judgments its
/// labels imply as qrels (--save-qrels), which `score-run` scores to the job's own numbers.
struct TrecOutput {
    /// The run file to write.
    var runPath: String?
    /// The qrels file to write.
    var qrelsPath: String?
    /// Names of the embeddings' rows (docids, and qids in self-retrieval); row indices if nil.
    var idsPath: String?
    /// Names of the query rows (with --queries); row indices if nil.
    var queryIDsPath: String?

    /// The rows' names, read and checked before any search, so a bad ids file costs nothing.
    func names(references: LabeledEmbeddings, queries: LabeledEmbeddings?) throws -> (queries: TrecWriter.RowNames, references: TrecWriter.RowNames) {
        let referenceNames = try idsPath.map { try TrecWriter.RowNames.read($0, rows: references.embeddings.rows) } ?? .indices
        guard let queries else { return (referenceNames, referenceNames) }
        let queryNames = try queryIDsPath.map { try TrecWriter.RowNames.read($0, rows: queries.embeddings.rows) } ?? .indices
        return (queryNames, referenceNames)
    }

    /// Writes the files under temporary names, to be put in place with the run's record.
    func prepare(
        _ evaluation: RetrievalEvaluation, references: LabeledEmbeddings, queries: LabeledEmbeddings?,
        names: (queries: TrecWriter.RowNames, references: TrecWriter.RowNames)
    ) throws -> [ArrayWriter.PendingFile] {
        var files: [ArrayWriter.PendingFile] = []
        if let runPath {
            // The job keeps the lists whenever a run file is asked for.
            files.append(try TrecWriter.prepareRun(evaluation.neighbors!, queries: names.queries, references: names.references, to: runPath))
        }
        if let qrelsPath {
            let judgments = queries.map { RelevanceJudgments(queries: $0.labels, references: references.labels) }
                ?? RelevanceJudgments(selfRetrieval: references.labels)
            files.append(try TrecWriter.prepareQrels(
                judgments, selfRetrieval: queries == nil, queries: names.queries, references: names.references, to: qrelsPath))
        }
        return files
    }
}
