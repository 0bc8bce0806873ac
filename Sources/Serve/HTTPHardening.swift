import Foundation
import HTTPTypes
import Query
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// What every HTTP surface of ours (`serve`, `gateway`) does before a request reaches a route:
/// deadlines on slow clients, JSON answers for requests too large to parse, and the limits.
///
/// - Headers: a connection must deliver its first request's header block within 10 s of opening.
/// - Body: a request's body must arrive within 30 s of its headers (a body at 1 byte/s is cut).
/// - Idle: a kept-alive connection without a request for 60 s is closed (Hummingbird's idle timer).
/// - A URL over 8 KiB is answered 414 and a header block over 32 KiB 431, each with our JSON error
///   body, then the connection is closed.
public enum HTTPHardening {
    public static let headerTimeout = TimeAmount.seconds(10)
    public static let bodyTimeout = TimeAmount.seconds(30)
    public static let idleTimeout = TimeAmount.seconds(60)
    public static let maxURLBytes = 8 * 1024
    public static let maxHeaderBytes = 32 * 1024

    /// The HTTP/1 server with these limits.
    public static var server: HTTPServerBuilder {
        var decoder = HTTP1Channel.Configuration.DecoderConfiguration()
        decoder.maxHeaderListSize = maxHeaderBytes
        decoder.maxHeaderFieldSize = maxHeaderBytes
        return .http1(configuration: .init(additionalChannelHandlers: [RequestDeadlines()], idleTimeout: idleTimeout,
                                           httpDecoderConfiguration: decoder))
    }

    /// Our JSON error body for a status.
    static func errorBody(_ code: String, _ message: String) -> ByteBuffer {
        ByteBuffer(string: JSONText.object([("error", .object([("code", .string(code)), ("message", .string(message))]))]).text)
    }
}

/// Deadlines per connection on the parts of its requests, and JSON errors for requests the HTTP
/// parser refused or whose URL is too long (see ``HTTPHardening``).
final class RequestDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var headerTimer: Scheduled<Void>?
    private var bodyTimer: Scheduled<Void>?
    private var sawHead = false
    private var refused = false

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armHeaderTimer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armHeaderTimer(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { cancel() }

    func channelInactive(context: ChannelHandlerContext) {
        cancel()
        context.fireChannelInactive()
    }

    private func cancel() {
        headerTimer?.cancel(); headerTimer = nil
        bodyTimer?.cancel(); bodyTimer = nil
    }

    private func armHeaderTimer(_ context: ChannelHandlerContext) {
        guard headerTimer == nil, !sawHead else { return }
        // On the channel's event loop, as every call of this handler: no hop, no lock.
        headerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: HTTPHardening.headerTimeout) { [self] in
            headerTimer = nil
            if !sawHead { context.close(promise: nil) } // no complete header block within 10 s
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            sawHead = true
            headerTimer?.cancel(); headerTimer = nil
            if (head.path?.utf8.count ?? 0) > HTTPHardening.maxURLBytes {
                refuse(context, .uriTooLong, "uri_too_long", "the URL is over \(HTTPHardening.maxURLBytes) bytes")
                return
            }
            bodyTimer?.cancel()
            bodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: HTTPHardening.bodyTimeout) { [self] in
                bodyTimer = nil
                context.close(promise: nil) // the body did not arrive within 30 s
            }
        case .end:
            bodyTimer?.cancel(); bodyTimer = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let e = error as? HTTPParserError, !refused {
            switch e {
            case .headerOverflow:
                refuse(context, .requestHeaderFieldsTooLarge, "headers_too_large", "the request's headers are over \(HTTPHardening.maxHeaderBytes) bytes")
            case .invalidURL:
                refuse(context, .uriTooLong, "bad_url", "the request's URL cannot be read")
            default:
                refuse(context, .badRequest, "bad_request", "the request is not valid HTTP/1.1 (\(e))")
            }
            return
        }
        context.fireErrorCaught(error)
    }

    /// Answers with our JSON error and closes the connection; nothing more is read from it.
    private func refuse(_ context: ChannelHandlerContext, _ status: HTTPResponse.Status, _ code: String, _ message: String) {
        refused = true
        cancel()
        let body = HTTPHardening.errorBody(code, message)
        let head = HTTPResponse(status: status, headerFields: [.contentType: "application/json", .contentLength: String(body.readableBytes),
                                                                .connection: "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
