import CKernels

/// The one-byte spin locks of CKernels (`dmle_lock`, one per HNSW list), taken for the span
/// of a closure so that every lock taken is released.
enum ByteLock {
    /// Runs `body` holding `lock` when `locking` (without it otherwise: a single-threaded
    /// build takes no lock).
    @inline(__always)
    static func with<R>(_ lock: UnsafeMutablePointer<UInt8>, if locking: Bool, _ body: () -> R) -> R {
        if locking { dmle_lock(lock) }
        defer { if locking { dmle_unlock(lock) } }
        return body()
    }
}
