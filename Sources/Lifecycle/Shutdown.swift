import Foundation
import Synchronization

/// The process's stop request (SIGTERM/SIGINT), seen by every retry loop: signals always win.
///
/// A loop that retries what may heal (Postgres or Kafka down) sleeps through ``sleep(_:while:)``,
/// which wakes within 50 ms of a request and throws ``Interrupted`` naming what it was waiting
/// for; the command then exits 1 with that reason, and nothing is committed half (a checkpoint is
/// one Postgres transaction; a Kafka transaction left open is aborted by the task's next owner).
/// As a last resort a request also arms a watchdog: a process still running ``grace`` seconds
/// later (a call blocked inside librdkafka or libpq) says so and exits 1, so every command stops
/// within 10 s of the signal whatever it is doing.
public enum Shutdown {
    private static let flag = Atomic<Bool>(false)
    private static let armed = Atomic<Bool>(false)
    /// Seconds from the request to the watchdog's exit.
    public static let grace: Double = 9

    /// What must happen even when the watchdog ends the process (the demo stops its private
    /// Postgres, so nothing is left running); each must be quick.
    private static let lastWords = Mutex<[@Sendable () -> Void]>([])

    /// Registers `body` to run before a forced exit.
    public static func beforeForcedExit(_ body: @escaping @Sendable () -> Void) {
        lastWords.withLock { $0.append(body) }
    }

    /// Whether a stop was requested.
    public static var requested: Bool { flag.load(ordering: .relaxed) }

    /// Requests a stop (from a signal handler's queue or a service's graceful shutdown) and arms
    /// the watchdog once.
    public static func request() {
        flag.store(true, ordering: .relaxed)
        guard !armed.exchange(true, ordering: .relaxed) else { return }
        let t = Thread {
            Thread.sleep(forTimeInterval: grace)
            FileHandle.standardError.write(Data("wakala: still stopping \(Int(grace)) s after the signal (a call into Kafka or Postgres did not return); exiting now — the last committed checkpoint stands and a rerun resumes there\n".utf8))
            for last in lastWords.withLock({ $0 }) { last() }
            exit(1)
        }
        t.name = "wakala.shutdown-watchdog"
        t.start()
    }

    /// A retry stopped by the stop request.
    public struct Interrupted: Error, CustomStringConvertible {
        public var what: String
        public var description: String { "stopped by a signal while \(what); nothing after the last committed checkpoint was kept" }
    }

    /// Sleeps `seconds` unless a stop is requested first; throws ``Interrupted`` naming `what`.
    public static func sleep(_ seconds: Double, while what: @autoclosure () -> String) throws {
        let end = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, seconds) * 1e9)
        while true {
            if requested { throw Interrupted(what: what()) }
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < end else { return }
            Thread.sleep(forTimeInterval: min(0.05, Double(end - now) / 1e9))
        }
    }

    /// Throws ``Interrupted`` when a stop was requested.
    public static func check(_ what: @autoclosure () -> String) throws {
        if requested { throw Interrupted(what: what()) }
    }

    /// SIGTERM and SIGINT request a stop (handled on a dispatch queue, so the request may start
    /// the watchdog); also unblocks them (a parent may have spawned us with them blocked).
    public static func installSignalHandlers() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for s in [SIGTERM, SIGINT] {
            signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { request() }
            source.resume()
            sources.append(source) // kept for the process's life
        }
    }

    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = [] // appended once, at start
}

/// A configuration mistake found at run time (a URL libpq cannot read, a refused login, a missing
/// database): retrying cannot mend it, so the command fails at once with exit 2, naming the setting.
public struct SettingError: Error, CustomStringConvertible {
    public var setting: String
    public var message: String
    public init(setting: String, _ message: String) { self.setting = setting; self.message = message }
    public var description: String { "\(setting): \(message)" }
}
