import Domain
import Ingest
@testable import Operators

func ms(_ s: String) -> EpochMillis { RFC3339.parse(s)! }

typealias Rec = Timestamped<Keyed<String, Int64>>

func rec(_ t: String, _ key: String, _ v: Int64) -> Rec {
    Timestamped(time: ms(t), value: Keyed(key: key, value: v))
}

func cs(_ count: Int64, _ sum: Int64) -> CountSum.State { CountSum.State(count: count, sum: sum) }

func win(_ a: String, _ b: String) -> Window { Window(start: ms(a), end: ms(b)) }

typealias Result = WindowResult<String, CountSum.State>

func result(_ key: String, _ w: Window, _ count: Int64, _ sum: Int64, update: Bool = false) -> Result {
    WindowResult(key: key, window: w, value: cs(count, sum), isUpdate: update)
}

func aggregator(_ spec: WindowSpec, lateness: Int64 = 0, zone: String = "UTC") -> WindowAggregator<String, CountSum> {
    WindowAggregator(name: "test", spec: spec, allowedLateness: lateness, zone: TenantZone(identifier: zone)!, aggregation: CountSum())
}

let hour: Int64 = 3_600_000
let minute: Int64 = 60_000

/// A generated stream (deterministic for the seed), for the tests that replay one.
func generatedStream(seed: UInt64, tenants: Int, days: Int, ordersPerDay: Int, disorderMillis: Int64 = 0,
                     duplicates: Double = 0, malformed: Double = 0) -> [GeneratedRecord] {
    var c = GeneratorConfig()
    c.seed = seed
    c.tenants = tenants
    c.days = days
    c.ordersPerDay = ordersPerDay
    c.disorderMillis = disorderMillis
    c.duplicates = duplicates
    c.malformed = malformed
    var g = StreamGenerator(c)
    return g.generateAll()
}
