import Engine
import Foundation
import Ingest
import ServiceLifecycle

/// The pipeline's loop on a thread of its own, as a service of a ServiceGroup
/// (swift-service-lifecycle): the group's graceful shutdown (SIGINT/SIGTERM) or cancellation stops it — finish
/// the batch, last checkpoint, leave the group — and its own end (a bounded run) ends the group.
struct PipelineService: Service {
    /// Run on one thread only (the service's); the box only carries it there.
    let box: SendableBox<KafkaPipeline>
    /// The run's summary once it returned.
    let summary = ResultBox<KafkaPipeline.Summary>()
    init(pipeline: KafkaPipeline) { box = SendableBox(pipeline) }

    func run() async throws {
        let stop = StopFlag()
        let box = self.box, summary = self.summary
        // A graceful shutdown (a signal) or a cancellation (another service of the group failed,
        // e.g. a port it could not listen on) stops the loop alike.
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                let t = Thread {
                    do {
                        summary.set(try box.value.run(shouldStop: { stop.isSet }))
                        c.resume()
                    } catch { c.resume(throwing: error) }
                }
                t.name = "wakala-pipeline"
                t.start()
            }
        } onCancelOrGracefulShutdown: {
            stop.set()
            Shutdown.request() // retry loops stop waiting; the watchdog bounds the rest
        }
    }
}

final class ResultBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    var get: T? { lock.lock(); defer { lock.unlock() }; return value }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

final class SendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}
