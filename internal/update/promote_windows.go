package update

// promoteOnCommit: on Windows a committed version also replaces the
// service's executable (promoteInstalled).
const promoteOnCommit = true
