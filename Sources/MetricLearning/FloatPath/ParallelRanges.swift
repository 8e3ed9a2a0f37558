import Dispatch

/// Runs `body(worker, range)` over `0 ..< count` split into at most `workers` contiguous
/// ranges, concurrently when there is more than one, and returns when every range is done.
/// `worker` is the range's position, 0 for the first, below `workers`.
///
/// Each worker gets at least `minimumPerWorker` items, so small jobs stay on the calling
/// thread. The split depends only on `count` and the worker count, so a body that reduces
/// per range and combines the ranges in order gives the same result on every run.
/// - Precondition: the bodies write disjoint data.
func parallelRanges(_ count: Int, workers: Int, minimumPerWorker: Int, _ body: (Int, Range<Int>) -> Void) {
    let used = min(workers, count / max(1, minimumPerWorker))
    guard used > 1 else {
        body(0, 0 ..< count)
        return
    }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: used) { w in
            box.value(w, count * w / used ..< count * (w + 1) / used)
        }
    }
}

/// A value handed to concurrent workers that only use it on disjoint data.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
