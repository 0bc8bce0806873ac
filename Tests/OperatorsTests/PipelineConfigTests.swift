import Foundation
import Testing
@testable import Operators

@Suite struct PipelineConfigTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func errors(_ text: String, env: [String: String] = [:]) -> [ConfigError] {
        do {
            _ = try PipelineConfig.parse(text, file: "p.yaml", environment: env)
            return []
        } catch let e as ConfigErrors {
            return e.errors
        } catch {
            Issue.record("unexpected \(error)")
            return []
        }
    }

    static let minimal = """
        pipeline: t
        sources:
          - name: events
            type: file
        operators:
          - name: hourly
            type: window_aggregate
            input: events
            key: tenant_id
            window: {type: hopping, size: 1h, slide: 30m}
        """

    @Test func theDefaultPipelineLoads() throws {
        let p = try PipelineConfig.load(path: Self.repo.appendingPathComponent("Pipelines/analytics.yaml").path, environment: [:])
        #expect(p.name == "analytics")
        #expect(p.eventTime == EventTimeSettings(maxOutOfOrderness: 30_000, idleTimeout: 60_000, allowedLateness: 600_000))
        #expect(p.checkpointInterval == 10_000)
        #expect(p.sources.first?.topics == ["whatsapp.inbound", "orders", "payments", "deliveries", "driver-locations", "usage", "tenants"])
        #expect(p.sources.first?.params["brokers"] == "127.0.0.1:9092") // ${WAKALA_KAFKA_BROKERS:-…} default
        #expect(p.operators.map(\.type) == ["dedupe", "order_lifecycle", "quota", "repartition", "delivery_eta", "rollup", "window_aggregate"])
        #expect(p.operators.first { $0.name == "deliveries" }?.inputs == ["deliveries_by_driver", "dedupe"])
        #expect(p.operators.last?.window == .tumbling(size: 3_600_000))
    }

    @Test func environmentSubstitution() throws {
        let text = Self.minimal.replacingOccurrences(of: "type: file", with: "type: kafka\n    brokers: ${B}\n    topics: [orders]")
        let p = try PipelineConfig.parse(text, file: "p.yaml", environment: ["B": "10.0.0.1:9092"])
        #expect(p.sources[0].params["brokers"] == "10.0.0.1:9092")
        let e = errors(text)
        #expect(e.map(\.line) == [5])
        #expect(e.first?.message.contains("B is not set") == true)
    }

    @Test func hoppingWindowParses() throws {
        let p = try PipelineConfig.parse(Self.minimal, file: "p.yaml")
        #expect(p.operators[0].window == .hopping(size: 3_600_000, slide: 1_800_000))
    }

    @Test func unknownKeyWithSuggestionAtItsPlace() {
        let e = errors(Self.minimal.replacingOccurrences(of: "    key: tenant_id", with: "    kye: tenant_id"))
        #expect(e.contains { $0.line == 9 && $0.column == 5 && $0.path == "operators[0].kye" && $0.message.contains("did you mean 'key'") })
        #expect(e.contains { $0.path == "operators[0]" && $0.message.contains("missing key 'key'") })
    }

    @Test func wrongTypesAndBadDurations() {
        let e = errors(Self.minimal.replacingOccurrences(of: "slide: 30m", with: "slide: soon")
            .replacingOccurrences(of: "pipeline: t", with: "pipeline: t\nevent_time:\n  idle_timeout: [1]"))
        #expect(e.contains { $0.path == "event_time.idle_timeout" && $0.line == 3 && $0.message.contains("expected a duration") })
        #expect(e.contains { $0.path == "operators[0].window.slide" && $0.line == 12 && $0.column == 46 })
    }

    @Test func referencesNamesAndWindows() {
        var e = errors(Self.minimal.replacingOccurrences(of: "input: events", with: "input: evnts"))
        #expect(e.map(\.description) == ["p.yaml:8:12: operators[0]: 'evnts' is not a source or an operator declared above (did you mean 'events'?)"])
        e = errors(Self.minimal.replacingOccurrences(of: "slide: 30m", with: "slide: 25m"))
        #expect(e.first?.message == "the slide must divide the size")
        e = errors(Self.minimal + "\n  - name: hourly\n    type: dedupe\n    input: events")
        #expect(e.first?.message == "the name 'hourly' is used twice")
        e = errors(Self.minimal.replacingOccurrences(of: "type: window_aggregate", with: "type: window_agregate"))
        #expect(e.first?.path == "operators[0].type")
        #expect(e.first?.message.contains("unknown type") == true)
    }

    @Test func rollupStatusesMustNameALifecycleOnTheSameInput() {
        let base = Self.minimal + """

              - name: orders
                type: order_lifecycle
                input: events
              - name: rollups
                type: rollup
                input: events
                granularities: [hour]
                statuses: STATUSES
            """
        #expect(errors(base.replacingOccurrences(of: "STATUSES", with: "orders")).isEmpty)
        var e = errors(base.replacingOccurrences(of: "STATUSES", with: "hourly"))
        #expect(e.map(\.description) == ["p.yaml:18:15: operators[2].statuses: 'hourly' is a window_aggregate operator, not an order_lifecycle"])
        e = errors(base.replacingOccurrences(of: "STATUSES", with: "later"))
        #expect(e.first?.message == "'later' is not an operator declared above")
        e = errors(base.replacingOccurrences(of: "STATUSES", with: "orders").replacingOccurrences(of: "    input: events\n    granularities", with: "    input: hourly\n    granularities"))
        #expect(e.first?.message.contains("they must read the same input") == true)
    }

    @Test func yamlSyntaxErrorsHaveAPlace() {
        let e = errors("pipeline: x\nsources: [\n")
        #expect(e.count == 1)
        #expect(e.first?.line == 3)
        #expect(e.first?.message.hasPrefix("YAML:") == true)
    }

    @Test func graphShowsTheTopology() throws {
        let p = try PipelineConfig.load(path: Self.repo.appendingPathComponent("Pipelines/analytics.yaml").path, environment: [:])
        let text = PipelineGraph.text(p)
        #expect(text.contains("Source: events [kafka]"))
        #expect(text.contains("└─ Processor: dedupe [dedupe, key=event_id, ttl=24h]"))
        #expect(text.contains("Processor: deliveries [delivery_eta, → topic delivery-eta] (also reads dedupe)"))
        let dot = PipelineGraph.dot(p)
        #expect(dot.contains("\"deliveries_by_driver\" -> \"deliveries\";"))
        #expect(dot.hasPrefix("digraph \"analytics\" {"))
        let mermaid = PipelineGraph.mermaid(p)
        #expect(mermaid.hasPrefix("flowchart LR"))
        #expect(mermaid.components(separatedBy: "-->").count - 1 == (p.operators + p.sinks).reduce(0) { $0 + $1.inputs.count })
    }
}
