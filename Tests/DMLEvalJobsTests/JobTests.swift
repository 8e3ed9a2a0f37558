import Foundation
import DMLEvalJobs
import MetricLearning
import RetrievalEval
import RetrievalEvalStore
import Testing

@Suite("The evaluation job")
struct EvaluationJobTests {
    @Test("its means are the core evaluation's, and the run it records holds them with the conventions")
    func meansAndRecord() throws {
        let scratch = try Scratch()
        let (embeddings, labels) = try scratch.clusters("data")
        let metrics: [Metric] = [.recall(k: 1), .recall(k: 4), .ndcg(k: 4), .mapAtR]
        var job = EvaluationJob(source: .files(embeddings: embeddings, labels: labels), store: scratch.store, metrics: metrics,
                                toolVersion: "0.0-test")
        job.name = "synthetic"
        let outcome = try job.run()

        let data = try LabeledEmbeddings.read(embeddings: embeddings, labels: labels)
        let core = try RetrievalEvaluation.run(references: data, metrics: metrics)
        #expect(outcome.evaluation.report.means == core.report.means)
        #expect(outcome.evaluation.depth == core.depth)
        #expect(outcome.references.rows == 48 && outcome.references.classes == 4)

        let store = try scratch.store.openExisting()
        let run = try store.run(id: outcome.runID!)
        #expect(run.name == "synthetic" && run.toolVersion == "0.0-test")
        #expect(run.metrics.map(\.mean) == core.report.means)
        let parameters = Dictionary(run.parameters, uniquingKeysWith: { a, _ in a })
        #expect(parameters["mode"] == "self-retrieval")
        #expect(parameters["recall_convention"] == "hit")
        #expect(parameters["ties"] == "lower reference index first")
        #expect(parameters["embeddings"] == embeddings)
    }

    @Test("without a store it records nothing and writes its baseline; with a query set the protocol is query-reference")
    func queriesAndBaseline() throws {
        let scratch = try Scratch()
        let gallery = try scratch.clusters("gallery", seed: 2)
        let queries = try scratch.clusters("queries", perClass: 3, seed: 2)
        var job = EvaluationJob(source: .files(embeddings: gallery.embeddings, labels: gallery.labels),
                                queries: QueryFiles(embeddings: queries.embeddings, labels: queries.labels), store: nil,
                                metrics: [.recall(k: 1), .precision(k: 2)], toolVersion: "0.0-test")
        job.saveBaseline = scratch.path("out/base.json")
        let outcome = try job.run()
        #expect(outcome.runID == nil && outcome.storePath == nil)
        #expect(outcome.queryCount == 12)
        #expect(!FileManager.default.fileExists(atPath: scratch.store.path))
        let baseline = try Baseline.read(scratch.path("out/base.json"))
        #expect(baseline.means == outcome.evaluation.report.means)
        #expect(baseline.queryDataset?.rows == 12)
        #expect(Dictionary(outcome.parameters, uniquingKeysWith: { a, _ in a })["mode"] == "query-reference")
    }

    @Test("intervals need two scored queries: refused before any search, naming the setting")
    func intervalsRefused() throws {
        let scratch = try Scratch()
        // Every label distinct: no query has a relevant reference.
        let (embeddings, labels) = try scratch.clusters("single", classes: 6, perClass: 1)
        var job = EvaluationJob(source: .files(embeddings: embeddings, labels: labels), store: scratch.store,
                                metrics: [.recall(k: 1)], toolVersion: "0.0-test")
        job.confidence = Bootstrap.Settings(level: 0.95, resamples: 100, seed: 0)
        #expect { try job.run() } throws: { error in
            guard case JobError.tooFewScoredQueriesForIntervals(let found) = error else { return false }
            return found == 0 && "\(error)".hasPrefix("confidence:")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.store.path))
    }

    @Test("progress reaches the handler stage by stage")
    func progress() throws {
        let scratch = try Scratch()
        let (embeddings, labels) = try scratch.clusters("data")
        let events = Events()
        let job = EvaluationJob(source: .files(embeddings: embeddings, labels: labels), store: nil, metrics: [.recall(k: 1)],
                                toolVersion: "0.0-test")
        _ = try job.run(progress: { events.append($0) })
        #expect(events.all.last == .finish(stage: "searching"))
    }
}

/// Progress events, collected from any thread.
final class Events: @unchecked Sendable {
    private var events: [JobProgress] = []
    private let lock = NSLock()
    func append(_ e: JobProgress) { lock.withLock { events.append(e) } }
    var all: [JobProgress] { lock.withLock { events } }
}

@Suite("The index provider")
struct IndexProviderTests {
    @Test("a new index is stored by the run that built it, and found again for the same embeddings and settings")
    func reuse() throws {
        let scratch = try Scratch()
        let (embeddings, labels) = try scratch.clusters("data", classes: 4, perClass: 30)
        let settings = IndexSearchSettings(build: IndexBuildSettings(kind: .ivf, nlist: 4), nprobe: 4)
        var job = EvaluationJob(source: .files(embeddings: embeddings, labels: labels), store: scratch.store,
                                metrics: [.recall(k: 1), .recall(k: 4)], toolVersion: "0.0-test")
        job.search = settings
        let first = try job.run()
        guard case .built = first.search.origin else { Issue.record("expected a new build"); return }
        // nprobe = nlist scans every list: the exact result.
        #expect(first.approximation?.recallAtDepth == 1)
        let exact = try RetrievalEvaluation.run(references: try LabeledEmbeddings.read(embeddings: embeddings, labels: labels),
                                                metrics: [.recall(k: 1), .recall(k: 4)])
        #expect(first.evaluation.report.means == exact.report.means)

        let vectors = try ReadSettings().readEmbeddings(embeddings)
        let again = try IndexProvider.provide(settings, vectors: vectors, distance: .cosine, store: scratch.store, threads: 2)
        guard case .stored = again.origin else { Issue.record("expected the stored index, found \(again.origin)"); return }
        #expect(!again.isNew)
        var rebuilt = settings
        rebuilt.rebuild = true
        #expect(try IndexProvider.provide(rebuilt, vectors: vectors, distance: .cosine, store: scratch.store, threads: 2).isNew)
    }

    @Test("an index file of another kind is refused, naming the kinds")
    func mismatch() throws {
        let scratch = try Scratch()
        let (embeddings, _) = try scratch.clusters("data", perClass: 20)
        let vectors = try ReadSettings().readEmbeddings(embeddings)
        let built = try IndexProvider.provide(IndexSearchSettings(build: IndexBuildSettings(kind: .ivf, nlist: 2)),
                                              vectors: vectors, distance: .cosine, store: nil, threads: 1)
        try IndexFile.write(built.index, to: scratch.path("data.ivf"))
        let asked = IndexSearchSettings(build: IndexBuildSettings(kind: .hnsw), indexFile: scratch.path("data.ivf"))
        #expect { try IndexProvider.provide(asked, vectors: vectors, distance: .cosine, store: nil, threads: 1) } throws: { error in
            guard case JobError.indexMismatch(_, let expected, let found) = error else { return false }
            return expected.kind == .hnsw && found.kind == .ivf
        }
    }
}

@Suite("The baseline gate")
struct BaselineGateTests {
    /// A baseline of well-separated clusters, written by the evaluation job.
    func baseline(_ scratch: Scratch) throws -> String {
        let (embeddings, labels) = try scratch.clusters("good", noise: 0.2)
        var job = EvaluationJob(source: .files(embeddings: embeddings, labels: labels), store: nil,
                                metrics: [.recall(k: 1), .mapAtR], toolVersion: "0.0-test")
        job.saveBaseline = scratch.path("baseline.json")
        _ = try job.run()
        return scratch.path("baseline.json")
    }

    @Test("the baseline's own embeddings pass; a regressed set fails on each metric that dropped")
    func verdicts() throws {
        let scratch = try Scratch()
        let file = try baseline(scratch)
        let good = scratch.path("good.npy"), labels = scratch.path("good.txt")
        let same = try BaselineGate(baseline: .file(file), source: .files(embeddings: good, labels: labels),
                                    store: scratch.store, recordRun: false, toolVersion: "0.0-test").run()
        #expect(same.passed && same.paired && same.sameEmbeddings)
        #expect(same.results.allSatisfy { $0.deltaPoints == 0 })

        let bad = try scratch.clusters("bad", noise: 4)
        var gate = BaselineGate(baseline: .file(file), source: .files(embeddings: bad.embeddings, labels: labels),
                                store: scratch.store, toolVersion: "0.0-test")
        gate.significance = 0.05
        gate.permutations = 1000
        let notices = Notices()
        let outcome = try gate.run(notify: { notices.append($0) })
        #expect(!outcome.passed && outcome.paired && !outcome.sameEmbeddings)
        let base = try Baseline.read(file)
        for (m, result) in outcome.results.enumerated() {
            #expect(result.baseline == base.means[m])
            #expect(result.regressed == (result.deltaPoints < -0.5 && (result.adjustedPValue ?? 1) < 0.05))
        }
        #expect(outcome.results.contains { $0.regressed })
        #expect(notices.all.isEmpty)
        // The check's own run is recorded under the baseline's name.
        let run = try scratch.store.openExisting().run(id: outcome.runID!)
        #expect(run.name == "check against \(file)")
        #expect(run.parameters.contains { $0 == ("baseline", file) })
    }

    @Test("another test set is refused unless allowed, and then not paired")
    func otherTestSet() throws {
        let scratch = try Scratch()
        let file = try baseline(scratch)
        let other = try scratch.clusters("other", classes: 6, perClass: 8, noise: 0.2)
        var gate = BaselineGate(baseline: .file(file), source: .files(embeddings: other.embeddings, labels: other.labels),
                                store: scratch.store, recordRun: false, toolVersion: "0.0-test")
        #expect { try gate.run() } throws: { error in
            guard case JobError.testSetMismatch(_, _, let rows, _, let found, _) = error else { return false }
            return rows == 48 && found == 48 && "\(error)".contains("allowDatasetChange")
        }
        gate.allowDatasetChange = true
        gate.significance = 0.05
        let notices = Notices()
        let outcome = try gate.run(notify: { notices.append($0) })
        #expect(!outcome.paired)
        #expect(notices.all == [.unpaired])
        #expect(outcome.results.allSatisfy { $0.pValue == nil })
    }

    @Test("a metric the baseline lacks is refused, naming the setting")
    func unknownMetric() throws {
        let scratch = try Scratch()
        let file = try baseline(scratch)
        var gate = BaselineGate(baseline: .file(file), source: .files(embeddings: scratch.path("good.npy"), labels: scratch.path("good.txt")),
                                store: scratch.store, recordRun: false, toolVersion: "0.0-test")
        gate.metricNames = ["ndcg@2"]
        #expect { try gate.run() } throws: { "\($0)".contains("metricNames ndcg@2") }
    }
}

/// Gate notices, collected from any thread.
final class Notices: @unchecked Sendable {
    private var notices: [BaselineGate.Notice] = []
    private let lock = NSLock()
    func append(_ n: BaselineGate.Notice) { lock.withLock { notices.append(n) } }
    var all: [BaselineGate.Notice] { lock.withLock { notices } }
}

@Suite("Run comparison")
struct RunComparisonJobTests {
    @Test("runs on the same test set pair; a run on other labels does not; deltas are the means' differences")
    func pairing() throws {
        let scratch = try Scratch()
        let metrics: [Metric] = [.recall(k: 1), .mapAtR]
        func record(_ data: (embeddings: String, labels: String), metrics: [Metric]) throws -> Int64 {
            try EvaluationJob(source: .files(embeddings: data.embeddings, labels: data.labels), store: scratch.store,
                              metrics: metrics, toolVersion: "0.0-test").run().runID!
        }
        let a = try record(try scratch.clusters("a", noise: 0.3), metrics: metrics)
        let b = try record(try scratch.clusters("b", noise: 1.5), metrics: metrics)
        let c = try record(try scratch.clusters("c", classes: 6, perClass: 8), metrics: metrics + [.mrr])
        let outcome = try RunComparisonJob(runIDs: [a, b, c], store: scratch.store, permutations: 1000).run()
        #expect(outcome.pairable == [true, true, false])
        #expect(outcome.unpairedRuns == [c])
        #expect(outcome.metrics == ["recall@1", "map@r"])
        #expect(outcome.testedMetrics == 2)
        for m in 0 ..< 2 {
            #expect(abs(outcome.cells[1][m].deltaPoints - (outcome.means[1][m] - outcome.means[0][m]) * 100) < 1e-9)
            #expect(outcome.cells[1][m].randomizationP != nil)
            #expect(outcome.cells[2][m].randomizationP == nil)
        }
        let pairwise = try RunComparisonJob(runIDs: [a, b], store: scratch.store, permutations: 1000, pairwiseSignificance: 0.05).run()
        #expect(pairwise.better?.count == 2)
        #expect(pairwise.better![0][0] == [false, false])

        let d = try record(try scratch.clusters("d"), metrics: [.mrr])
        #expect { try RunComparisonJob(runIDs: [a, d], store: scratch.store).run() } throws: { error in
            guard case JobError.noSharedMetric(let runs) = error else { return false }
            return runs == [a, d]
        }
    }
}

@Suite("The training job")
struct TrainingJobTests {
    @Test("means and sample standard deviations of the runs' final metrics")
    func meansAndSpreads() {
        let (means, spreads) = TrainingJob.meansAndSpreads([[0.5, 1], [0.7, 3]])
        #expect(abs(means[0] - 0.6) < 1e-12 && means[1] == 2)
        #expect(abs(spreads[0] - 0.02.squareRoot()) < 1e-12 && abs(spreads[1] - 2.squareRoot()) < 1e-12)
        #expect(TrainingJob.meansAndSpreads([[0.25]]).spreads == [0])
    }

    @Test("a grid stores every run, and its cell is the mean and spread of their final test metrics")
    func grid() throws {
        let scratch = try Scratch()
        let training = try scratch.clusters("train", perClass: 10)
        let test = try scratch.clusters("test", perClass: 5, seed: 7)
        var configuration = TrainingConfiguration()
        configuration.epochs = 2
        configuration.batchSize = 16
        configuration.outputDimension = 4
        let job = TrainingJob(features: training.embeddings, labels: training.labels, test: (test.embeddings, test.labels),
                              losses: [.proxyNCA], configuration: configuration, repeats: 2, store: scratch.store,
                              toolVersion: "0.0-test")
        #expect(job.isGrid)
        let outcome = try job.run()
        #expect(outcome.cells.count == 1)
        let cell = outcome.cells[0]
        #expect(cell.runs == 2 && cell.storedRuns.count == 2)
        let store = try scratch.store.openExisting()
        let finals = try cell.storedRuns.map { id in
            let last = try store.trainingCurves(id: id).last!
            return outcome.metricNames.map { last.test[$0]! }
        }
        let (means, spreads) = TrainingJob.meansAndSpreads(finals)
        #expect(zip(means, cell.means).allSatisfy { abs($0 - $1) < 1e-12 })
        #expect(zip(spreads, cell.spreads).allSatisfy { abs($0 - $1) < 1e-12 })
        let parameters = try store.trainingRuns(limit: 10).first { $0.id == cell.storedRuns[1] }!.parameters
        #expect(parameters.contains { $0 == ("repeat", "2 of 2") })
        #expect(parameters.contains { $0 == ("seed", "1") })
    }

    @Test("a grid without a test set is refused; a single run reports every epoch and writes its head")
    func singleAndRefusal() throws {
        let scratch = try Scratch()
        let training = try scratch.clusters("train", perClass: 10)
        var configuration = TrainingConfiguration()
        configuration.epochs = 2
        configuration.outputDimension = 3
        var job = TrainingJob(features: training.embeddings, labels: training.labels, losses: [.proxyNCA, .mpa],
                              configuration: configuration, store: nil, toolVersion: "0.0-test")
        #expect { try job.run() } throws: { error in
            if case JobError.gridNeedsTestSet = error { return true } else { return false }
        }
        job.losses = [.proxyNCA]
        job.headPath = scratch.path("heads/head.npy")
        nonisolated(unsafe) var epochs: [Int] = []
        let outcome = try job.run(events: { if case .epoch(let r) = $0 { epochs.append(r.epoch) } })
        #expect(epochs == [0, 1, 2])
        #expect(outcome.single?.history.count == 3)
        let head = try ReadSettings().readEmbeddings(scratch.path("heads/head.npy"))
        #expect(head.rows == 8 && head.columns == 3)
    }
}

@Suite("The index sweep")
struct IndexSweepTests {
    @Test("one row per setting; scanning every IVF list finds the exact top k")
    func rows() throws {
        let scratch = try Scratch()
        let (embeddings, _) = try scratch.clusters("data", classes: 4, perClass: 25)
        let sweep = IndexSweep(references: embeddings, build: IndexBuildSettings(kind: .ivf, nlist: 8), efforts: [1, 8], k: 5,
                               threads: 2, repeats: 1)
        let outcome = try sweep.run()
        #expect(outcome.points.map(\.effort) == [1, 8])
        #expect(outcome.points[1].recall == 1)
        #expect(outcome.points[0].recall <= 1 && outcome.points[0].recall > 0)
        #expect(outcome.queryCount == 100 && outcome.depth == 5)

        var defaults = sweep
        defaults.efforts = nil
        #expect(try defaults.run().points.map(\.effort) == [1, 2, 4, 8])
        var tooMany = sweep
        tooMany.efforts = [16]
        #expect { try tooMany.run() } throws: { error in
            guard case JobError.probesExceedLists(let lists, let found) = error else { return false }
            return lists == 8 && found == 16
        }
    }
}

@Suite("The store location")
struct StoreLocationTests {
    @Test("a missing store is refused for reading; a folder that does not exist cannot hold a new one")
    func refusals() throws {
        let scratch = try Scratch()
        #expect { try scratch.store.openExisting() } throws: { error in
            if case JobError.noStore = error { return true } else { return false }
        }
        let nowhere = StoreLocation(path: scratch.path("missing/folder/store.sqlite"), toolVersion: "0.0-test")
        #expect { try nowhere.checkCreatable() } throws: { error in
            guard case JobError.storeNotCreatable(_, let folder) = error else { return false }
            return folder == scratch.path("missing/folder")
        }
        try scratch.store.checkCreatable()
    }
}

@Suite("The store jobs")
struct StoreJobTests {
    @Test("ingest stores a dataset once per content; export writes the run's baseline and per-query values")
    func ingestAndExport() throws {
        let scratch = try Scratch()
        let (embeddings, labels) = try scratch.clusters("data")
        let first = try IngestJob(embeddings: embeddings, labels: labels, name: "synthetic", store: scratch.store).run()
        let again = try IngestJob(embeddings: embeddings, labels: labels, store: scratch.store).run()
        #expect(first.created && !again.created && again.record.id == first.record.id)
        #expect(again.record.names == ["synthetic"])

        var job = EvaluationJob(source: .dataset("synthetic"), store: scratch.store, metrics: [.recall(k: 1), .mrr],
                                toolVersion: "0.0-test")
        job.clustering = ClusteringSettings(metrics: [.nmi])
        let run = try job.run()
        #expect(run.datasetRecord?.id == first.record.id)
        let export = RunExportJob(runID: run.runID!, store: scratch.store, baselinePath: scratch.path("x/base.json"),
                                  perQueryPath: scratch.path("x/values.csv"))
        let (record, leftOut) = try export.run()
        #expect(leftOut == ["nmi"] && record.id == run.runID)
        let baseline = try Baseline.read(scratch.path("x/base.json"))
        #expect(baseline.means == run.evaluation.report.means)
        let csv = try String(contentsOfFile: scratch.path("x/values.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 49)
    }

    @Test("an index build writes its file and stores the index under the embeddings' hash")
    func indexBuild() throws {
        let scratch = try Scratch()
        let (embeddings, _) = try scratch.clusters("data", perClass: 20)
        let outcome = try IndexBuildJob(embeddings: embeddings, build: IndexBuildSettings(kind: .hnsw, m: 4),
                                        outputPath: scratch.path("idx/data.hnsw"), store: scratch.store, threads: 1).run()
        #expect(outcome.storedID != nil)
        #expect(outcome.embeddingsHash == (try ReadSettings().readEmbeddings(embeddings)).contentHash())
        #expect(try IndexFile.header(scratch.path("idx/data.hnsw")).count == 80)
        let stored = try scratch.store.openExisting().indexes()
        #expect(stored.map(\.id) == [outcome.storedID!] && stored[0].toolVersion == "0.0-test")
    }
}
