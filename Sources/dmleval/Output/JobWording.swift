import ArgumentParser
import Foundation
import DMLEvalJobs
import RetrievalEval
import RetrievalEvalStore

/// Draws the jobs' progress as the CLI always has: one bar per stage on stderr, only when
/// stderr is a terminal.
final class ProgressPrinter: @unchecked Sendable {
    private var bars: [String: ProgressBar] = [:]
    private let lock = NSLock()

    /// The handler to give a job.
    var handler: ProgressHandler { { [self] in self.show($0) } }

    private func show(_ event: JobProgress) {
        switch event {
        case .update(let stage, let fraction): bar(stage).update(fraction)
        case .finish(let stage): bar(stage).finish()
        case .note(let line): printError(line)
        }
    }

    private func bar(_ stage: String) -> ProgressBar {
        lock.withLock {
            if let bar = bars[stage] { return bar }
            let bar = ProgressBar(stage)
            bars[stage] = bar
            return bar
        }
    }
}

extension JobError {
    /// The error in the CLI's words, naming its flags: what `Entry` prints, with its exit code.
    var cliError: any Error {
        switch self {
        case .noStore(let path):
            return StoreError("\(path): no store here yet; record a run first ('dmleval EMBEDDINGS LABELS'), or pass --store (or set $DMLEVAL_STORE) with the store's path")
        case .storeNotCreatable(let path, let folder):
            return StoreError("\(path): cannot create the store: the folder '\(folder)' does not exist or is not writable; create it, or pass --store with another path (or --no-store)")
        case .datasetNeedsStore:
            return ValidationError("--dataset reads the store, so it cannot go with --no-store")
        case .indexMismatch(let file, let expected, let found):
            if found.kind != expected.kind {
                return InputError(.baselineMismatch, file: file, expected: "an \(expected.kind.rawValue) index (--index)",
                                  found: "an \(found.kind.rawValue) index", remedy: "pass --index \(found.kind.rawValue), or another file")
            }
            return InputError(.baselineMismatch, file: file, expected: "an index built for --distance \(expected.distance.rawValue)",
                              found: "one built for \(found.distance.rawValue)", remedy: "pass --distance \(found.distance.rawValue), or build the index again")
        case .tooFewScoredQueriesForIntervals(let found):
            return MetricError(.invalidInput, "--ci: a bootstrap interval needs at least 2 scored queries to resample, found \(found) (queries with R = 0 are not scored); drop --ci")
        case .tooFewClassesToCluster(let found):
            return MetricError(.invalidInput, "--nmi and --ami need at least 2 classes to cluster into, found \(found)")
        case .unknownBaselineMetric(let baseline, let available, let name):
            return InputError(.baselineMismatch, file: baseline, expected: "one of the baseline's metrics (\(available.joined(separator: ", ")))",
                              found: "--metric \(name)", remedy: "check a metric the baseline recorded")
        case .protocolMismatch(let baseline, let hasQueries):
            return InputError(.baselineMismatch, file: baseline,
                              expected: hasQueries ? "--queries and --query-labels, as the baseline used a query set" : "self-retrieval, as the baseline",
                              found: hasQueries ? "self-retrieval" : "a query set",
                              remedy: "evaluate the same protocol, or pass --allow-dataset-change")
        case .editedBaseline(let baseline, let rows, let classes, let claimedRows, let claimedClasses):
            return InputError(.baselineMismatch, file: baseline,
                              expected: "\(rows) rows in \(classes) classes, as the labels whose hash it names",
                              found: "\(claimedRows) rows in \(claimedClasses) classes",
                              remedy: "the baseline was edited: write it again with 'dmleval runs export' or '--save-baseline'")
        case .testSetMismatch(let baseline, let expectedHash, let expectedRows, let foundHash, let foundRows, let queryHash):
            return InputError(.baselineMismatch, file: baseline,
                              expected: "the baseline's test set (labels hash \(expectedHash.prefix(12)), \(expectedRows) items)",
                              found: "labels hash \(foundHash.prefix(12)), \(foundRows) items" + (queryHash.map { ", query labels hash \($0.prefix(12))" } ?? ""),
                              remedy: "check against a baseline of this test set, or pass --allow-dataset-change")
        case .trecBaselineNeedsFiles(let baseline, let foundDataset):
            return InputError(.baselineMismatch, file: baseline, expected: "a new TREC run and the qrels as the two files (dmleval check RUN QRELS --baseline ...), as the baseline was made by score-run",
                              found: foundDataset ? "--dataset" : "--queries", remedy: "give the run file and the qrels file")
        case .qrelsMismatch(let baseline, let expectedHash, let expectedQueries, let file, let foundHash, let foundQueries):
            return InputError(.baselineMismatch, file: baseline,
                              expected: "the baseline's qrels (hash \(expectedHash.prefix(12)), \(expectedQueries) judged queries)",
                              found: "\(file) (hash \(foundHash.prefix(12)), \(foundQueries) judged queries)",
                              remedy: "check against a baseline of these qrels, or pass --allow-dataset-change")
        case .probesExceedLists(let lists, let found):
            return SearchError("--nprobe: every value must be at most nlist (\(lists)), found \(found)")
        case .gridNeedsTestSet:
            return ValidationError("a grid compares test metrics: give --test FEATURES LABELS")
        case .trainingExceedsMemory(let loss, let dimension, let k, let bytes, let limit):
            return MemoryError("training \(loss) with --dim \(dimension) and K = \(k) needs \(bytes.map(MemoryBudget.describe) ?? "more than 2^63 bytes"), more than the \(MemoryBudget.describe(limit)) this process can have; choose a smaller setting")
        case .noSharedMetric(let runs):
            return StoreError("runs \(runs.map(String.init).joined(separator: ", ")) share no metric; compare runs of the same metrics")
        case .streamingUnsupported(let setting):
            return ValidationError("--stream-references reads the embeddings in tiles and cannot go with \(setting)")
        }
    }
}
