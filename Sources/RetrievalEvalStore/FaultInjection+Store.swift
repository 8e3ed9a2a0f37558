import GRDB
import RetrievalEval

/// Counts every row the store changes, for `FaultInjection`'s kill and count hooks.
final class FaultInjectionObserver: TransactionObserver {
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
    func databaseDidChange(with event: DatabaseEvent) { FaultInjection.willWrite() }
    func databaseDidCommit(_ db: Database) {}
    func databaseDidRollback(_ db: Database) {}
}
