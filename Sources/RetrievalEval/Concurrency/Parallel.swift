import Dispatch

// The package's one way to run work on several threads: every concurrent loop of the search,
// the indexes, the metrics and the training path goes through `parallelFor` or
// `parallelRanges`, and carries what its workers share in `UncheckedSendable`.

/// Runs `body(worker)` once for every worker in `0 ..< workers`, concurrently, and returns
/// when all are done; with one worker (or none) it runs on the calling thread.
/// - Precondition: the bodies write disjoint data, or synchronise (atomics, locks).
@inline(__always)
package func parallelFor(workers: Int, _ body: (Int) -> Void) {
    guard workers > 1 else {
        if workers == 1 { body(0) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { w in box.value(w) }
    }
}

/// Runs `body(worker, range)` over `0 ..< count` split into at most `workers` contiguous
/// ranges, concurrently when there is more than one, and returns when every range is done.
/// `worker` is the range's position, 0 for the first, below `workers`.
///
/// Each worker gets at least `minimumPerWorker` items, so small jobs stay on the calling
/// thread. The split depends only on `count` and the worker count, so a body that reduces
/// per range and combines the ranges in order gives the same result on every run.
/// - Precondition: the bodies write disjoint data.
@inline(__always)
package func parallelRanges(_ count: Int, workers: Int, minimumPerWorker: Int, _ body: (Int, Range<Int>) -> Void) {
    let used = min(workers, count / max(1, minimumPerWorker))
    guard used > 1 else {
        body(0, 0 ..< count)
        return
    }
    parallelFor(workers: used) { w in body(w, count * w / used ..< count * (w + 1) / used) }
}

/// A value (typically pointers into buffers) handed to concurrent workers that only use it
/// on disjoint data.
package struct UncheckedSendable<Value>: @unchecked Sendable {
    /// The value carried.
    package let value: Value
    /// Wraps `value`.
    @inline(__always)
    package init(_ value: Value) { self.value = value }
}

/// One value per worker, kept from one parallel loop to the next, so that the buffers inside
/// (growable arrays, scratch) keep their capacity instead of being allocated, and their pages
/// faulted in, on every block. Worker w uses only `values[w]`, in place.
package final class PerWorker<Value>: @unchecked Sendable {
    /// The values, one per worker.
    package let values: UnsafeMutablePointer<Value>
    /// The number of workers.
    package let count: Int

    /// `count` values, each made by `make`.
    package init(count: Int, _ make: () -> Value) {
        self.count = max(1, count)
        values = .allocate(capacity: self.count)
        for w in 0 ..< self.count { (values + w).initialize(to: make()) }
    }

    deinit {
        values.deinitialize(count: count)
        values.deallocate()
    }
}
