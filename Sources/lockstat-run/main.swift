import LockstatCLI

Entry.main(LockstatRunCommand.self)
