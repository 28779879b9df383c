// Command crashgw is a broken release for the update tests: a "new
// version" of edgegw that exits at start, as a build with a fatal bug
// would. The loader must try it max_attempts times, roll back to the
// previous version and report this message in the log tail.
package main

import (
	"fmt"
	"os"
	"strings"
)

func main() {
	fmt.Fprintf(os.Stderr, "crashgw: broken release, exiting at start (args: %s)\n", strings.Join(os.Args[1:], " "))
	os.Exit(1)
}
