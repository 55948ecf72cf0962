#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import HTTPCore

/// A resolved IPv4 or IPv6 socket address, stored as raw `sockaddr` bytes.
struct SocketAddress: Sendable, Hashable {
    /// The address family (`AF_INET` or `AF_INET6`).
    let family: Int32
    /// The raw `sockaddr_in` / `sockaddr_in6` bytes.
    let storage: [UInt8]
    /// The meaningful length of `storage`.
    var length: socklen_t { socklen_t(storage.count) }

    /// Resolves `host` and `port` to the first stream address getaddrinfo offers.
    ///
    /// Resolution blocks, so the client does it once, when it is created.
    static func resolve(host: String, port: Int) -> Result<SocketAddress, ResolutionFailure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = SocketCalls.streamSocketType
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = String(cString: gai_strerror(status))
            return .failure(ResolutionFailure(reason: reason))
        }
        defer { freeaddrinfo(list) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            let info = current.pointee
            if let address = info.ai_addr, info.ai_family == AF_INET || info.ai_family == AF_INET6 {
                let bytes = UnsafeRawBufferPointer(start: address, count: Int(info.ai_addrlen))
                return .success(SocketAddress(family: info.ai_family, storage: Array(bytes)))
            }
            entry = info.ai_next
        }
        return .failure(ResolutionFailure(reason: "no IPv4 or IPv6 address"))
    }

    /// Why a host name could not be resolved.
    struct ResolutionFailure: Error, Sendable {
        let reason: String
    }
}
