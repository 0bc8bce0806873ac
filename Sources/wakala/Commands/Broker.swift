import ArgumentParser
import Domain
import Foundation
import Ingest

/// `wakala broker`: an embedded development Kafka (librdkafka's mock cluster).
struct Broker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an embedded Kafka cluster for development and tests until interrupted.",
        discussion: "Prints `bootstrap: HOST:PORT` on standard output once the topics exist.")

    @Option(help: "Partitions per topic.") var partitions: Int = 4
    @Option(help: "Number of brokers in the cluster.") var brokers: Int = 1
    @Option(name: .customLong("topic"), help: "Another topic to create (repeatable); the default pipeline's internal topic is always created.")
    var extraTopics: [String] = []

    func validate() throws {
        guard (1...256).contains(partitions), (1...9).contains(brokers) else { throw ValidationError("--partitions 1–256, --brokers 1–9") }
    }

    func run() throws {
        // Block the stop signals first so they can be waited for synchronously below.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)

        let topics = Topics.inputs + Topics.outputs + Topics.defaultInternal + extraTopics
        let broker = try EmbeddedBroker(brokers: brokers, partitions: partitions, topics: topics)
        print("bootstrap: \(broker.bootstrapServers)")
        print("topics: \(topics.joined(separator: ",")) (\(partitions) partitions each)")
        fflush(nil)
        var sig: Int32 = 0
        sigwait(&set, &sig)
        note("broker: stopping on signal \(sig)")
        withExtendedLifetime(broker) {}
    }
}
