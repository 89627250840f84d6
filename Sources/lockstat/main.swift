import LockstatCLI

Entry.main(LockstatCommand.self)
