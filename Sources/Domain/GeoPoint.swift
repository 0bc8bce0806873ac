#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import CSupport

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
/// every driver fix against the same pickup, dropoff and route): points as unit vectors.
extension GeoPoint {
    /// Unit vector of this point on the sphere (two `sincos` calls).
    @inlinable public var unitVector: SIMD3<Double> {
        var sφ = 0.0, cφ = 0.0, sλ = 0.0, cλ = 0.0
        wakala_sincos(lat * .pi / 180, &sφ, &cφ)
        wakala_sincos(lng * .pi / 180, &sλ, &cλ)
        return SIMD3(cφ * cλ, cφ * sλ, sφ)
    }

    /// Great-circle distance in metres between two points given as ``unitVector``s: the central
    /// angle from the chord, 2·asin(|a − b| / 2) — the haversine formula's own quantity
    /// (haversine(θ) = (|a − b| / 2)²), one `asin` instead of two `sin` and an `atan2`.
    @inlinable public static func distance(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Double {
        let d = a - b
        let half = (d * d).sum().squareRoot() / 2
        return 2 * GeoPoint.earthRadiusMeters * asin(min(1, half))
    }

    /// The unit normal of the great circle through `start` and `end`, or nil when they (nearly)
    /// coincide or are antipodal (no single great circle).
    @inlinable public static func greatCircleNormal(_ start: GeoPoint, _ end: GeoPoint) -> SIMD3<Double>? {
        let a = start.unitVector, b = end.unitVector
        let n = SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
        let len = (n * n).sum().squareRoot()
        return len < 1e-12 ? nil : n / len
    }

    /// ``crossTrackDistance(start:end:)`` for a point given as a ``unitVector``, against a
    /// precomputed ``greatCircleNormal(_:_:)``: asin(p · n) · R, the same quantity through vectors
    /// (one asin instead of two bearings and a haversine).
    @inlinable public static func crossTrackDistance(_ p: SIMD3<Double>, normal n: SIMD3<Double>) -> Double {
        let d = (p * n).sum()
        return abs(asin(min(1, max(-1, d)))) * GeoPoint.earthRadiusMeters
    }
}
