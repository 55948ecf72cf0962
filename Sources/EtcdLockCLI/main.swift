import Foundation

/// The command line as the kernel gave it: Swift's `CommandLine.arguments` repairs invalid UTF-8
/// (two different lock names could become one), so each argument keeps its original bytes.
let rawArguments: [CommandLineArgument] = (1..<Int(CommandLine.argc)).map { index in
    CommandLineArgument(cString: CommandLine.unsafeArgv[index]!)
}
// A reader that went away (`etcdlock elect … | head -1`) must not kill a holder before it
// releases: writes then fail quietly instead (commands get default dispositions back).
signal(SIGPIPE, SIG_IGN)
exit(await EtcdLockCommand.main(rawArguments))
