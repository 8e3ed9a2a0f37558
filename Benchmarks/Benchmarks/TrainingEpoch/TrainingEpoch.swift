// One training epoch per loss, the training issue's setting: N = 6,000 features of D = 512,
// a head 512 -> 512, C = 100 classes, K = 10 proxies (K = 1 for ProxyAnchor and ProxyNCA),
// batch 180 (34 batches), AdamW. No test evaluation. The features and labels are made in
// setup (not timed); scripts/torch-losses.py --time-epoch times the same epoch in PyTorch.

import Benchmark
import BenchmarkData
import MetricLearning
import RetrievalEval

private let rows = 6_000, dimension = 512, classes = 100

private func makeData() -> LabeledEmbeddings {
    var rng = SplitMix64(seed: 0x5EED_0004)
    let features = Matrix(rows: rows, columns: dimension, values: (0 ..< rows * dimension).map { _ in Float(rng.gaussian()) })
    let labels = Labels(integers: (0 ..< rows).map { Int64($0 % classes) })
    // The counts match by construction, so this cannot throw.
    return try! LabeledEmbeddings(embeddings: features, labels: labels)
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .peakMemoryResident],
        timeUnits: .milliseconds,
        warmupIterations: 1,
        maxDuration: .seconds(30),
        maxIterations: 5
    )
    var settings = TrainingConfiguration()
    settings.epochs = 1
    settings.batchSize = 180
    settings.outputDimension = dimension
    settings.testMetrics = []

    for name in LossName.allCases {
        let k = name == .proxyAnchor || name == .proxyNCA ? 1 : 10
        Benchmark("one epoch \(name.rawValue) K=\(k)", configuration: configuration) { benchmark, data in
            let loss = try name.make(.init(proxies: k))
            for _ in benchmark.scaledIterations {
                blackHole(try Trainer.train(loss: loss, training: data, test: nil, configuration: settings))
            }
        } setup: {
            makeData()
        }
    }
}
