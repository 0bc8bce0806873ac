import Foundation
import NIOCore
import ServiceLifecycle

/// A server that could not start listening, said in the user's terms: which address, which
/// setting chose it, and what to do — instead of NIO's `bind(descriptor:ptr:bytes:)`.
public struct ListenFailure: Error, CustomStringConvertible {
    public var description: String

    /// `error` restated when it is a failure to bind `host:port` (the port `setting` chose), else nil.
    public static func explain(_ error: Error, host: String, port: Int, setting: String) -> ListenFailure? {
        guard let io = error as? IOError, io.description.contains("bind") else { return nil }
        let at = "\(host):\(port)"
        switch io.errnoCode {
        case EADDRINUSE:
            return ListenFailure(description: "\(at) is already in use by another process (\(setting)): stop that process or choose another port")
        case EACCES:
            return ListenFailure(description: "\(at) needs privileges to listen on (\(setting)): choose a port above 1023")
        case EADDRNOTAVAIL:
            return ListenFailure(description: "\(host) is not an address of this machine (\(setting))")
        default:
            return ListenFailure(description: "cannot listen on \(at) (\(setting)): \(String(cString: strerror(io.errnoCode)))")
        }
    }
}

/// `server` whose failure to bind comes out as a ``ListenFailure`` naming `host:port` and `setting`
/// (a ServiceGroup's error does not say which of its servers failed).
public struct Listener: Service {
    let server: any Service
    let host: String, port: Int, setting: String

    public init(_ server: any Service, host: String, port: Int, setting: String) {
        self.server = server; self.host = host; self.port = port; self.setting = setting
    }

    public func run() async throws {
        do { try await server.run() } catch {
            throw ListenFailure.explain(error, host: host, port: port, setting: setting) ?? error
        }
    }
}
