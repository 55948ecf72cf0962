import Foundation

/// The command line as the kernel gave it: Swift's `CommandLine.arguments` repairs invalid UTF-8
/// (two different lock names could become one), so each argument keeps its original bytes.
let rawArguments: [CommandLineArgument] = (1..<Int(CommandLine.argc)).map { index in
    CommandLineArgument(cString: CommandLine.unsafeArgv[index]!)
}
exit(await EtcdLockCommand.main(rawArguments))
