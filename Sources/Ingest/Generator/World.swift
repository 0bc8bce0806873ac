import Domain
#if canImport(Glibc)
import Glibc
#endif

/// The entities of a generated township-commerce world: tenants with their vendors, products and
/// customers, and the platform's drivers. Everything is drawn from the seed.
struct World {
    struct Product {
        var id: String
        var name: String
        var price: Money
        var vendorID: String
    }

    struct Customer {
        var id: String
        var phone: String
        var home: GeoPoint
    }

    struct Tenant {
        var id: String
        var name: String
        var tier: Tier
        var zone: String
        var city: City
        var vendors: [(id: String, at: GeoPoint)]
        var products: [Product]
        var customers: [Customer]
        /// Relative order volume (enterprise tenants sell more).
        var volume: Double
        /// A tier change during the stream: (day index, new tier).
        var upgrade: (day: Int, tier: Tier)?
    }

    struct Driver {
        var id: String
        var city: City
        var at: GeoPoint
        var freeAt: EpochMillis
    }

    /// A metro area the tenants and drivers work in.
    enum City {
        case johannesburg, nairobi

        var townships: [(name: String, center: GeoPoint)] {
            switch self {
            case .johannesburg:
                return [("Soweto", GeoPoint(lat: -26.2485, lng: 27.8540)),
                        ("Alexandra", GeoPoint(lat: -26.1030, lng: 28.0950)),
                        ("Tembisa", GeoPoint(lat: -25.9964, lng: 28.2268)),
                        ("Diepsloot", GeoPoint(lat: -25.9320, lng: 28.0120)),
                        ("Orange Farm", GeoPoint(lat: -26.4780, lng: 27.8620))]
            case .nairobi:
                return [("Kibera", GeoPoint(lat: -1.3133, lng: 36.7878)),
                        ("Mathare", GeoPoint(lat: -1.2600, lng: 36.8580))]
            }
        }

        var phonePrefix: String { self == .johannesburg ? "+277" : "+2547" }
    }

    var tenants: [Tenant] = []
    var drivers: [Driver] = []

    static let businessWords = ["Spaza", "Kota King", "Mama Thandi's", "Kasi Bites", "Ekasi Grocer", "Vusi's Butchery",
                                "Shisa Nyama", "Bra Sol's", "Ubuntu Fresh", "Mzansi Meals", "Lerato's Kitchen",
                                "Sizwe Hardware", "Amandla Tuck Shop", "Jozi Bakery", "Township Threads"]
    static let catalog: [(String, ClosedRange<Int64>)] = [
        ("Kota full house", 3500...6500), ("Bunny chow", 4500...8500), ("Magwinya x4", 1000...2000),
        ("White bread loaf", 1599...1999), ("Maize meal 5kg", 6499...8999), ("Amasi 2L", 3299...3999),
        ("Chicken feet 1kg", 3999...5499), ("Braai pack", 14999...24999), ("Airtime R10", 1000...1000),
        ("Paraffin 1L", 2199...2799), ("Sugar 2.5kg", 4599...5499), ("Cooking oil 2L", 5999...7499),
        ("Mogodu plate", 5500...8000), ("Chakalaka can", 1499...1999), ("Sta-soft 2L", 4999...5999),
        ("Eggs x18", 4999...6499), ("Russian & chips", 3000...4500), ("Cold drink 2L", 2199...2999),
        ("Ugali & sukuma", 1500...2500), ("Nyama choma 500g", 6000...9000)]

    init(tenants count: Int, customers customerCount: Int? = nil, rng: inout SplitMix64, ids: inout IDMaker) {
        for n in 0..<count {
            let tier: Tier = n == 0 ? .basic : rng.weighted([(.basic, 0.55), (.premium, 0.33), (.enterprise, 0.12)])
            // Every fifth tenant trades in Nairobi (M-Pesa, Africa/Nairobi).
            let city: City = n % 5 == 4 ? .nairobi : .johannesburg
            let zone = city == .nairobi ? "Africa/Nairobi" : TenantZone.defaultIdentifier
            let num = String(n + 1)
            let tid = "t-" + String(repeating: "0", count: max(0, 4 - num.count)) + num
            let (township, center) = rng.pick(city.townships)
            let name = "\(rng.pick(World.businessWords)) \(township)"
            var vendors: [(String, GeoPoint)] = []
            for _ in 0..<rng.int(1...4) {
                vendors.append((ids.next("v-"), jitter(center, meters: 1500, &rng)))
            }
            var products: [Product] = []
            for _ in 0..<rng.int(8...20) {
                let (pname, range) = rng.pick(World.catalog)
                products.append(Product(id: ids.next("p-"), name: pname, price: Money(cents: rng.int64(range)),
                                        vendorID: rng.pick(vendors).0))
            }
            var customers: [Customer] = []
            for _ in 0..<(customerCount ?? rng.int(40...160)) {
                let phone = city.phonePrefix + String(rng.int(10_000_000...99_999_999))
                customers.append(Customer(id: ids.next("c-"), phone: phone, home: jitter(center, meters: 4000, &rng)))
            }
            let volume: Double = tier == .enterprise ? 2.0 : tier == .premium ? 1.3 : 0.8
            var upgrade: (Int, Tier)? = nil
            if tier != .enterprise, n % 7 == 3 { upgrade = (1, tier == .basic ? .premium : .enterprise) }
            tenants.append(Tenant(id: tid, name: name, tier: tier, zone: zone, city: city, vendors: vendors,
                                  products: products, customers: customers, volume: volume, upgrade: upgrade))
        }
        let driverCount = max(4, count * 3)
        for n in 0..<driverCount {
            let city: City = (n % 5 == 4 && count >= 5) ? .nairobi : .johannesburg
            let (_, center) = rng.pick(city.townships)
            drivers.append(Driver(id: ids.next("d-"), city: city, at: jitter(center, meters: 3000, &rng), freeAt: 0))
        }
    }
}

/// A point within about `meters` of `p`.
func jitter(_ p: GeoPoint, meters: Double, _ rng: inout SplitMix64) -> GeoPoint {
    let dLat = rng.double(-1...1) * meters / 111_320
    let dLng = rng.double(-1...1) * meters / (111_320 * max(0.2, cosDeg(p.lat)))
    return GeoPoint(lat: ((p.lat + dLat) * 1e6).rounded() / 1e6, lng: ((p.lng + dLng) * 1e6).rounded() / 1e6)
}

func cosDeg(_ d: Double) -> Double { cos(d * .pi / 180) }

/// Deterministic, compact identifiers (≤ 15 bytes, so Swift keeps them inline without allocating).
struct IDMaker {
    private var counter: UInt64
    private let salt: UInt64
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8) // Crockford base32

    init(seed: UInt64) { salt = seed &* 0x9E37_79B9_7F4A_7C15; counter = 0 }

    /// `prefix` + 13 base32 characters (65 bits of a 64-bit bijection): unique within the stream.
    mutating func next(_ prefix: String) -> String {
        counter += 1
        return code(prefixed: prefix, from: counter, length: 13)
    }

    /// A scrambled base32 code of `n`; with `length` ≥ 13 distinct inputs give distinct codes.
    func code(prefixed prefix: String, from n: UInt64, length: Int) -> String {
        var z = n ^ salt
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        var out = Array(prefix.utf8)
        for k in 0..<length { out.append(IDMaker.alphabet[Int((z >> UInt64(5 * k)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
