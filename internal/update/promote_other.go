//go:build !windows

package update

// promoteOnCommit: elsewhere the installed binary is the package
// manager's; the loader runs the committed version from the update
// directory (promoteInstalled).
const promoteOnCommit = false
