/// The process exit statuses of `etcdlock`, following sysexits(3).
struct ExitStatus: Error, Equatable, Sendable {
    let code: Int32

    /// Success.
    static let success = ExitStatus(code: 0)
    /// A failure not covered below (e.g. the lock was lost while the command ran).
    static let failure = ExitStatus(code: 1)
    /// The command line was wrong (`EX_USAGE`).
    static let usage = ExitStatus(code: 64)
    /// etcd could not be reached (`EX_UNAVAILABLE`).
    static let unavailable = ExitStatus(code: 69)
    /// etcd refused the user access to the lock's keys (`EX_NOPERM`): its role does not cover
    /// that namespace. Nothing of the attempt is left in etcd.
    static let permissionDenied = ExitStatus(code: 77)
    /// The lock was held by someone else with `--try`, or `--timeout` passed (`EX_TEMPFAIL`).
    static let temporaryFailure = ExitStatus(code: 75)
    /// A semaphore is held with another permit count than `--permits` gave (`EX_CONFIG`): its
    /// users disagree on its configuration. Nothing of the attempt is left in etcd; a retry
    /// succeeds only once every holder and waiter with the other count has left.
    static let permitsMismatch = ExitStatus(code: 78)
}
