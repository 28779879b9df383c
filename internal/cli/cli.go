// Package cli is the small subcommand framework shared by edgegw, edgecentral
// and edgebench: each subcommand registers itself from its own file.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Command is one subcommand.
type Command struct {
	Name  string // "probe serial" for nested commands
	Short string // one line for the command list
	// Usage is the --help text an installer can follow: what it does, an
	// example, what the exit code means. Flags are appended automatically.
	Usage string
	// Flags declares the flags on fs; it may be nil.
	Flags func(fs *flag.FlagSet)
	// Run runs the command with the positional args left after the flags.
	Run func(ctx context.Context, env *Env, args []string) error
}

// Env is what a command gets besides its args.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
	Stdin  io.Reader
}

// ExitError carries a specific exit code (e.g. `edgegw status`'s unhealthy code).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// ErrUsage marks a usage error (exit code 64, ExitUsage).
var ErrUsage = errors.New("usage")

// App is a set of commands.
type App struct {
	Name     string
	Summary  string
	commands map[string]*Command
}

// Register adds c; it panics on a duplicate or empty name.
func (a *App) Register(c *Command) {
	if a.commands == nil {
		a.commands = map[string]*Command{}
	}
	if c.Name == "" || c.Run == nil {
		panic("cli: command with empty name or nil Run")
	}
	if _, dup := a.commands[c.Name]; dup {
		panic("cli: duplicate command " + c.Name)
	}
	a.commands[c.Name] = c
}

// Main runs the app on os.Args and returns the exit code.
func (a *App) Main(ctx context.Context, args []string, env *Env) int {
	if env == nil {
		env = &Env{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin}
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, _ := a.find(args[1:]); c != nil {
				a.printHelp(env.Stdout, c)
				return 0
			}
		}
		if len(args) == 0 {
			a.printList(env.Stderr)
			return ExitUsage
		}
		a.printList(env.Stdout)
		return 0
	}
	c, rest := a.find(args)
	if c == nil {
		fmt.Fprintf(env.Stderr, "%s: unknown command %q\n\n", a.Name, strings.Join(args[:min(2, len(args))], " "))
		a.printList(env.Stderr)
		return ExitUsage
	}
	fs := flag.NewFlagSet(a.Name+" "+c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.Flags != nil {
		c.Flags(fs)
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.printHelp(env.Stdout, c)
			return 0
		}
		fmt.Fprintf(env.Stderr, "%s %s: %v\nRun '%s help %s' for usage.\n", a.Name, c.Name, err, a.Name, c.Name)
		return ExitUsage
	}
	err := c.Run(ctx, env, fs.Args())
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return ee.Code // the command printed what it had to say
	}
	fmt.Fprintf(env.Stderr, "%s %s: %v\n", a.Name, c.Name, err)
	if errors.Is(err, ErrUsage) && !errors.As(err, &ee) {
		fmt.Fprintf(env.Stderr, "Run '%s help %s' for usage.\n", a.Name, c.Name)
	}
	return ExitCode(err)
}

// find matches the longest registered name ("probe serial" before "probe").
func (a *App) find(args []string) (*Command, []string) {
	for n := min(3, len(args)); n >= 1; n-- {
		if c, ok := a.commands[strings.Join(args[:n], " ")]; ok {
			return c, args[n:]
		}
	}
	return nil, nil
}

func (a *App) printList(w io.Writer) {
	fmt.Fprintf(w, "%s — %s\n\nUsage: %s <command> [flags] [args]\n\nCommands:\n", a.Name, a.Summary, a.Name)
	names := make([]string, 0, len(a.commands))
	for n := range a.commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-16s %s\n", n, a.commands[n].Short)
	}
	fmt.Fprintf(w, "\nRun '%s help <command>' or '%s <command> --help' for details.\n", a.Name, a.Name)
}

func (a *App) printHelp(w io.Writer, c *Command) {
	fmt.Fprintf(w, "Usage: %s %s [flags]\n\n%s\n", a.Name, c.Name, strings.TrimSpace(c.Usage))
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	if c.Flags != nil {
		c.Flags(fs)
	}
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}
