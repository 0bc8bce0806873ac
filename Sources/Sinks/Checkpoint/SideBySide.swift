import Foundation

/// Runs `body(0..<count)` on the cores side by side (`concurrentPerform`) and returns the results
/// in index order; the first error by index is thrown once all are done. For independent CPU
/// work after the input has ended (sinks preparing, Parquet files finishing, replay's output
/// files) that would otherwise leave a core idle.
public func sideBySide<T>(_ count: Int, _ body: (Int) throws -> T) throws -> [T] {
    if count == 1 { return [try body(0)] }
    let results = ResultSlots<T>(count)
    withoutActuallyEscaping(body) { body in
        let call = UnsafeSendableBody(body)
        DispatchQueue.concurrentPerform(iterations: count) { i in results.set(i, Result { try call.body(i) }) }
    }
    return try results.values()
}

/// One result slot per index, each written by one thread.
private final class ResultSlots<T>: @unchecked Sendable {
    private var slots: [Result<T, Error>?]
    private let lock = NSLock()
    init(_ count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<T, Error>) { lock.lock(); slots[i] = r; lock.unlock() }
    func values() throws -> [T] { try slots.map { try $0!.get() } }
}

/// The body, called from `concurrentPerform`'s threads while the caller waits for them.
private struct UnsafeSendableBody<T>: @unchecked Sendable {
    let body: (Int) throws -> T
    init(_ body: @escaping (Int) throws -> T) { self.body = body }
}
