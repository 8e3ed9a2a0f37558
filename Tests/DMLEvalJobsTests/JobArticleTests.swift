import Foundation
import Testing
import DMLEvalJobs
import MetricLearning
import RetrievalEval
import RetrievalEvalStore

// The code of the DocC articles "Gate CI on a baseline" and "Train a projection head",
// compiled here and run below: each article's code block must equal the marked lines.

// BEGIN gate-ci-on-a-baseline
/// Writes a baseline of the embeddings a model gives today: the metrics, their means and
/// every query's values, with the test set's hashes.
func saveBaseline(embeddings: String, labels: String, to baseline: String) throws {
    var job = EvaluationJob(source: .files(embeddings: embeddings, labels: labels), store: nil,
                            metrics: [.recall(k: 1), .mapAtR], toolVersion: "1.0")
    job.saveBaseline = baseline
    _ = try job.run()
}

/// Gates new embeddings of the same test set on the baseline: true when no metric regressed.
func gate(embeddings: String, labels: String, baseline: String, store: String) throws -> Bool {
    var gate = BaselineGate(baseline: .file(baseline), source: .files(embeddings: embeddings, labels: labels),
                            store: StoreLocation(path: store, toolVersion: "1.0"), recordRun: false, toolVersion: "1.0")
    gate.tolerancePoints = 0.5  // a drop of more than half a point fails,
    gate.significance = 0.05    // if a paired test over the queries also finds it (Holm-adjusted)
    let outcome = try gate.run()
    for result in outcome.results {
        print(result.metric.name, result.baseline, result.current, result.regressed ? "regressed" : "ok")
    }
    return outcome.passed
}
// END gate-ci-on-a-baseline

// BEGIN train-a-projection-head
/// Trains a linear head on frozen features with the MPA loss (4 proxies per class), writes it
/// as a .npy matrix, and returns the test set's MAP@R after the last epoch.
func trainHead(features: String, labels: String, testFeatures: String, testLabels: String,
               head: String) throws -> Double {
    var configuration = TrainingConfiguration()
    configuration.epochs = 5
    configuration.outputDimension = 16
    configuration.batchSize = 32
    configuration.testMetrics = [.recall(k: 1), .mapAtR]
    var job = TrainingJob(features: features, labels: labels, test: (testFeatures, testLabels),
                          losses: [.mpa], proxyCounts: [4], configuration: configuration,
                          store: nil, toolVersion: "1.0")
    job.headPath = head
    let outcome = try job.run()
    guard let test = outcome.single?.finalTest else { return .nan }
    return test.evaluation.report.mean(of: .mapAtR) ?? .nan
}
// END train-a-projection-head

@Suite("The jobs' articles run")
struct JobArticleTests {
    /// The marked lines of this file.
    static func marked(_ name: String) throws -> String {
        let lines = try String(contentsOfFile: #filePath, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let begin = try #require(lines.firstIndex(of: "// BEGIN \(name)"))
        let end = try #require(lines.firstIndex(of: "// END \(name)"))
        return lines[(begin + 1) ..< end].joined(separator: "\n")
    }

    /// The first ```swift block of an article, without its import lines.
    static func article(_ file: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/DMLEvalJobs/DMLEvalJobs.docc/\(file)").standardizedFileURL
        let text = try String(contentsOf: url, encoding: .utf8)
        let start = try #require(text.range(of: "```swift\n"))
        let stop = try #require(text.range(of: "\n```", range: start.upperBound ..< text.endIndex))
        return text[start.upperBound ..< stop.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
            .drop { $0.hasPrefix("import ") || $0.isEmpty }.joined(separator: "\n")
    }

    @Test func theArticlesShowTheCodeThatRuns() throws {
        #expect(try Self.article("GateCIOnABaseline.md") == Self.marked("gate-ci-on-a-baseline"))
        #expect(try Self.article("TrainAProjectionHead.md") == Self.marked("train-a-projection-head"))
    }

    @Test func theGatePassesTheSameModelAndFailsANoisierOne() throws {
        let scratch = try Scratch()
        let good = try scratch.clusters("good", noise: 0.6)
        let worse = try scratch.clusters("worse", noise: 4)
        #expect(try String(contentsOfFile: good.labels, encoding: .utf8) == String(contentsOfFile: worse.labels, encoding: .utf8))
        let baseline = scratch.path("baseline.json")
        try saveBaseline(embeddings: good.embeddings, labels: good.labels, to: baseline)
        #expect(try Baseline.read(baseline).metrics == [.recall(k: 1), .mapAtR])
        #expect(try gate(embeddings: good.embeddings, labels: good.labels, baseline: baseline, store: scratch.path("store.sqlite")))
        #expect(try !gate(embeddings: worse.embeddings, labels: worse.labels, baseline: baseline, store: scratch.path("store.sqlite")))
    }

    @Test func trainingWritesTheHeadAndScoresTheTestClasses() throws {
        let scratch = try Scratch()
        let training = try scratch.clusters("train", classes: 6, perClass: 20, dimensions: 24, seed: 3)
        let test = try scratch.clusters("test", classes: 4, perClass: 20, dimensions: 24, seed: 4)
        let head = scratch.path("head.npy")
        let mapAtR = try trainHead(features: training.embeddings, labels: training.labels,
                                   testFeatures: test.embeddings, testLabels: test.labels, head: head)
        #expect(mapAtR > 0 && mapAtR <= 1)
        let written = try EmbeddingReader.read(head)
        #expect(written.rows == 24 && written.columns == 16 || written.rows == 16 && written.columns == 24)
    }
}
