#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// A WGS84 position in degrees.
public struct GeoPoint: Hashable, Sendable {
    public var lat: Double
    public var lng: Double

    @inlinable public init(lat: Double, lng: Double) { self.lat = lat; self.lng = lng }

    /// Mean Earth radius used throughout (CONTRACT §2.4): 6 371 008.8 m.
    public static let earthRadiusMeters = 6_371_008.8

    /// Whether the latitude is within ±90 and the longitude within ±180.
    @inlinable public var isValid: Bool {
        lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180
    }

    /// Great-circle distance to `other` in metres (haversine formula).
    public func distance(to other: GeoPoint) -> Double {
        let φ1 = lat * .pi / 180, φ2 = other.lat * .pi / 180
        let dφ = φ2 - φ1
        let dλ = (other.lng - lng) * .pi / 180
        let a = sin(dφ / 2) * sin(dφ / 2) + cos(φ1) * cos(φ2) * sin(dλ / 2) * sin(dλ / 2)
        return 2 * GeoPoint.earthRadiusMeters * atan2(a.squareRoot(), (1 - a).squareRoot())
    }

    /// Initial bearing from this point towards `other`, in radians.
    public func bearing(to other: GeoPoint) -> Double {
        let φ1 = lat * .pi / 180, φ2 = other.lat * .pi / 180
        let dλ = (other.lng - lng) * .pi / 180
        return atan2(sin(dλ) * cos(φ2), cos(φ1) * sin(φ2) - sin(φ1) * cos(φ2) * cos(dλ))
    }

    /// Distance in metres from this point to the great circle through `start` and `end`
    /// (the cross-track distance; always ≥ 0).
    public func crossTrackDistance(start: GeoPoint, end: GeoPoint) -> Double {
        let δ13 = start.distance(to: self) / GeoPoint.earthRadiusMeters
        let θ13 = start.bearing(to: self)
        let θ12 = start.bearing(to: end)
        return abs(asin(sin(δ13) * sin(θ13 - θ12)) * GeoPoint.earthRadiusMeters)
    }

    /// The point `meters` along the great circle from here towards `other` (for routes).
    public func moved(towards other: GeoPoint, meters: Double) -> GeoPoint {
        let d = distance(to: other)
        if d <= meters || d == 0 { return other }
        let f = meters / d
        return GeoPoint(lat: lat + (other.lat - lat) * f, lng: lng + (other.lng - lng) * f)
    }
}

/// Precomputed pieces for repeated distances against fixed points (delivery tracking measures
/// every driver fix against the same pickup, dropoff and route).
extension GeoPoint {
    /// cos(latitude), the factor the haversine formula takes for each end.
    @inlinable public var cosLatitude: Double { cos(lat * .pi / 180) }

    /// ``distance(to:)`` with both latitudes' cosines given: the same arithmetic, fewer calls.
    @inlinable public func distance(to other: GeoPoint, cosLat: Double, otherCosLat: Double) -> Double {
        let φ1 = lat * .pi / 180, φ2 = other.lat * .pi / 180
        let dφ = φ2 - φ1
        let dλ = (other.lng - lng) * .pi / 180
        let s1 = sin(dφ / 2), s2 = sin(dλ / 2)
        let a = s1 * s1 + cosLat * otherCosLat * s2 * s2
        return 2 * GeoPoint.earthRadiusMeters * atan2(a.squareRoot(), (1 - a).squareRoot())
    }

    /// Unit vector of this point on the sphere.
    @inlinable public var unitVector: SIMD3<Double> {
        let φ = lat * .pi / 180, λ = lng * .pi / 180
        let c = cos(φ)
        return SIMD3(c * cos(λ), c * sin(λ), sin(φ))
    }

    /// The unit normal of the great circle through `start` and `end`, or nil when they (nearly)
    /// coincide or are antipodal (no single great circle).
    @inlinable public static func greatCircleNormal(_ start: GeoPoint, _ end: GeoPoint) -> SIMD3<Double>? {
        let a = start.unitVector, b = end.unitVector
        let n = SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
        let len = (n * n).sum().squareRoot()
        return len < 1e-12 ? nil : n / len
    }

    /// ``crossTrackDistance(start:end:)`` against a precomputed ``greatCircleNormal(_:_:)``:
    /// asin(p · n) · R, the same quantity through vectors (one asin and four sin/cos instead of
    /// two bearings and a haversine).
    @inlinable public func crossTrackDistance(normal n: SIMD3<Double>) -> Double {
        let d = (unitVector * n).sum()
        return abs(asin(min(1, max(-1, d)))) * GeoPoint.earthRadiusMeters
    }
}
