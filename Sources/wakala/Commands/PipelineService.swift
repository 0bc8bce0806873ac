import Engine
import Foundation
import Ingest
import ServiceLifecycle
import Lifecycle

/// The pipeline's loop on a thread of its own, as a service of a ServiceGroup
/// (swift-service-lifecycle): the group's graceful shutdown (SIGINT/SIGTERM) or cancellation stops it — finish
/// the batch, last checkpoint, leave the group — and its own end (a bounded run) ends the group.
struct PipelineService: Service {
    /// Makes the pipeline on the service's thread (joining Kafka and Postgres, deciding the
    /// partitioner — which may wait for the first records — while the group's other services,
    /// such as /metrics, already run); it runs on that thread only, the box only carries it there.
    let make: SendableBox<() throws -> KafkaPipeline>
    /// Told the pipeline once it is made (before it runs).
    let started: SendableBox<(KafkaPipeline) -> Void>
    /// The run's summary once it returned.
    let summary = ResultBox<KafkaPipeline.Summary>()
    init(pipeline: KafkaPipeline) {
        make = SendableBox({ pipeline })
        started = SendableBox({ _ in })
    }
    init(make: @escaping () throws -> KafkaPipeline, started: @escaping (KafkaPipeline) -> Void) {
        self.make = SendableBox(make)
        self.started = SendableBox(started)
    }

    func run() async throws {
        let stop = StopFlag()
        let make = self.make, started = self.started, summary = self.summary
        // A graceful shutdown (a signal) or a cancellation (another service of the group failed,
        // e.g. a port it could not listen on) stops the loop alike.
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                let t = Thread {
                    do {
                        let pipeline = try make.value()
                        started.value(pipeline)
                        summary.set(try pipeline.run(shouldStop: { stop.isSet }))
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
