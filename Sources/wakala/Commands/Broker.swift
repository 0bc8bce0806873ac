import ArgumentParser
import Domain
import Foundation
import Ingest

/// `wakala broker`: an embedded development Kafka (librdkafka's mock cluster).
struct Broker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an embedded Kafka cluster for development and tests until interrupted.",
        discussion: """
        Prints `bootstrap: HOST:PORT` on standard output once the topics exist. For fault tests:         SIGUSR1 takes every broker down (connections refused), SIGUSR2 brings them back.
        """)

    @Option(help: "Partitions per topic.") var partitions: Int = 4
    @Option(name: .customLong("broker-count"), help: "Number of brokers in the cluster.") var brokers: Int = 1
    @Option(name: .customLong("brokers"), help: .hidden) var oldBrokers: String?
    @Option(name: .customLong("topic"), help: "Another topic to create (repeatable); the default pipeline's internal topics (repartition, exactly-once markers, reroute) are always created.")
    var extraTopics: [String] = []

    func validate() throws {
        if let oldBrokers { throw ValidationError("--brokers names Kafka addresses on every other command; the number of brokers is --broker-count \(oldBrokers)") }
        guard (1...256).contains(partitions), (1...9).contains(brokers) else { throw ValidationError("--partitions 1–256, --broker-count 1–9") }
    }

    func run() throws {
        // Block the stop signals first so they can be waited for synchronously below.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGUSR1)
        sigaddset(&set, SIGUSR2)
        pthread_sigmask(SIG_BLOCK, &set, nil)

        let topics = Topics.inputs + Topics.outputs + Topics.defaultInternal + extraTopics
        let broker = try EmbeddedBroker(brokers: brokers, partitions: partitions, topics: topics)
        print("bootstrap: \(broker.bootstrapServers)")
        print("topics: \(topics.joined(separator: ",")) (\(partitions) partitions each)")
        fflush(nil)
        var sig: Int32 = 0
        while true {
            sigwait(&set, &sig)
            if sig == SIGUSR1 {
                for b in 1...brokers { broker.setDown(broker: b) }
                note("broker: down (SIGUSR1); SIGUSR2 brings it back")
                continue
            }
            if sig == SIGUSR2 {
                for b in 1...brokers { broker.setUp(broker: b) }
                note("broker: up (SIGUSR2)")
                continue
            }
            break
        }
        note("broker: stopping on signal \(sig)")
        withExtendedLifetime(broker) {}
    }
}
