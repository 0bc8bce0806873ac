import Foundation
import JWTKit

/// The claims a dashboard token must carry (CONTRACT §3.2): `exp` and `tenant_id`; `role`
/// `platform_admin` may read any tenant.
public struct DashboardClaims: JWTPayload {
    public var exp: ExpirationClaim
    public var tenant_id: String
    public var role: String?
    public var tier: String?
    /// Optional registered claims, honoured when present: not before, issued at (each with
    /// ``leeway`` for clock skew), issuer and audience (checked when the server names them).
    public var nbf: NotBeforeClaim?
    public var iat: IssuedAtClaim?
    public var iss: IssuerClaim?
    public var aud: AudienceClaim?

    /// Clock skew allowed on `nbf` and `iat`.
    public static let leeway: TimeInterval = 60

    public init(tenantID: String, expires: Date, role: String? = nil) {
        exp = ExpirationClaim(value: expires)
        tenant_id = tenantID
        self.role = role
    }

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        let now = Date()
        if let nbf { try nbf.verifyNotBefore(currentDate: now.addingTimeInterval(Self.leeway)) }
        if let iat, iat.value > now.addingTimeInterval(Self.leeway) {
            throw JWTError.claimVerificationFailure(failedClaim: iat, reason: "issued in the future")
        }
        // The tenant is checked as `?tenant_id=` is: a strict character set, so a claim holding
        // NUL or anything path- or SQL-like never names a tenant.
        guard Self.isTenantID(tenant_id) else {
            throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "tenant_id must be letters, digits and _ - . : (at most 128)")
        }
    }

    /// Letters, digits and `_ - . :`, 1–128 of them (the rule for ids in paths and queries).
    public static func isTenantID(_ v: String) -> Bool {
        !v.isEmpty && v.utf8.count <= 128 && v.unicodeScalars.allSatisfy {
            ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || "_-.:".unicodeScalars.contains($0)
        }
    }

    public var isPlatformAdmin: Bool { role == "platform_admin" }
}

/// Verifies bearer tokens through jwt-kit: HS256 with the shared secret, RS256 with a public key.
/// The header's `alg` picks the key: `none` and every other algorithm are refused before any
/// signature check (a token cannot choose a weaker check than the server holds).
public struct TokenVerifier: Sendable {
    let hs256: JWTKeyCollection?
    let rs256: JWTKeyCollection?
    /// When set (`--jwt-issuer`, `--jwt-audience`), a token must carry this `iss` / an `aud` with it.
    public var issuer: String?
    public var audience: String?

    public struct Refused: Error, CustomStringConvertible {
        public var description: String
    }

    /// `secret`: WAKALA_JWT_SECRET; `publicKeyPEM`: an RSA public key for RS256. At least one.
    public init(secret: String?, publicKeyPEM: String?) async throws {
        if let secret, !secret.isEmpty {
            guard secret.utf8.count >= 32 else { throw Refused(description: "the HS256 secret must be at least 32 bytes") }
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            hs256 = keys
        } else { hs256 = nil }
        if let pem = publicKeyPEM {
            let keys = JWTKeyCollection()
            await keys.add(rsa: try Insecure.RSA.PublicKey(pem: pem), digestAlgorithm: .sha256)
            rs256 = keys
        } else { rs256 = nil }
    }

    /// The token's claims, or ``Refused`` saying why not.
    public func verify(_ token: String) async throws -> DashboardClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Self.base64URL(parts[0]),
              let obj = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw Refused(description: "the token is not a JWT")
        }
        let alg = obj["alg"] as? String ?? ""
        let keys: JWTKeyCollection?
        switch alg {
        case "HS256": keys = hs256
        case "RS256": keys = rs256
        default: throw Refused(description: "algorithm \(alg.isEmpty ? "(none)" : alg) is not accepted")
        }
        guard let keys else { throw Refused(description: "algorithm \(alg) is not configured on this server") }
        do {
            let claims = try await keys.verify(token, as: DashboardClaims.self)
            if let issuer, claims.iss?.value != issuer { throw Refused(description: "the token's issuer (iss) is not \(issuer)") }
            if let audience {
                do { try claims.aud?.verifyIntendedAudience(includes: audience) } catch { throw Refused(description: "the token is not for audience \(audience)") }
                if claims.aud == nil { throw Refused(description: "the token is not for audience \(audience)") }
            }
            return claims
        } catch let e as Refused {
            throw e
        } catch let e as JWTError {
            switch e.errorType {
            case .claimVerificationFailure: throw Refused(description: "the token has expired, is not valid yet, or its claims are invalid" + (e.reason.map { " (\($0))" } ?? ""))
            case .signatureVerificationFailed: throw Refused(description: "the token's signature does not verify")
            default: throw Refused(description: "the token was refused (\(e.errorType))")
            }
        } catch {
            throw Refused(description: "the token's claims are missing or malformed (exp and tenant_id are required)")
        }
    }

    static func base64URL(_ s: Substring) -> Data? {
        var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b.count % 4 != 0 { b += "=" }
        return Data(base64Encoded: b)
    }

    /// Signs claims with HS256 (demo tokens, tests).
    public static func sign(_ claims: DashboardClaims, secret: String) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }
}
