import Foundation

exit(await EtcdLockCommand.main(Array(CommandLine.arguments.dropFirst())))
