// Package cli is the subcommand framework shared by edgegw, edgecentral
// and edgebench: each subcommand registers itself from its own file with
// its flags on a standard flag.FlagSet, and the App runs them on
// github.com/spf13/cobra (flags before or after the arguments, --help on
// every command and group, shell completion, man pages).
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

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/edgegw/edgegw/edge/i18n"
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
	// Hidden keeps the command out of the lists (tools for the build).
	Hidden bool
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

// ErrUsage marks a usage error (exit code 64, ExitUsage). Its text is
// "usage", and in another language that language's word for it when it
// is an argument of i18n.Errorf (it is an i18n.Localizer).
var ErrUsage error = usageError{}

type usageError struct{}

func (usageError) Error() string                  { return "usage" }
func (usageError) Localize(lang i18n.Lang) string { return i18n.Text(lang, "usage") }

// App is a set of commands.
type App struct {
	Name    string
	Summary string
	// Groups give the one-line description of a command group ("probe")
	// that has no command of its own.
	Groups map[string]string
	// Lang, when set, is the language of the command list, the Short
	// lines and the framing of errors (edge/i18n's format catalog); nil
	// is English. Man pages are always English.
	Lang     func() i18n.Lang
	commands map[string]*Command
	byCobra  map[*cobra.Command]*Command
	flagLang i18n.Lang // while a command's Flags runs
}

// FlagLang is the language a command's Flags should write a usage string
// in when it builds one with i18n.Sprintf (a default that depends on the
// OS): the help's language while Flags runs, English for the man pages.
// Literal usage strings need nothing: the App translates them.
func (a *App) FlagLang() i18n.Lang {
	if a.flagLang == "" {
		return a.lang()
	}
	return a.flagLang
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

// Main runs the app on args (os.Args[1:]) and returns the exit code.
func (a *App) Main(ctx context.Context, args []string, env *Env) int {
	if env == nil {
		env = &Env{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin}
	}
	if len(args) == 0 {
		a.printList(env.Stderr)
		return ExitUsage
	}
	var ran *Command
	root := a.Cobra(env, func(c *Command) { ran = c })
	// Commands may bind their flags to variables made fresh by each call
	// of Flags (shared by a group's commands): the command that runs gets
	// its flags declared last, so its variables are the ones parsed into.
	if cmd, _, err := root.Find(args); err == nil {
		if c, ok := a.byCobra[cmd]; ok && c.Flags != nil {
			cmd.ResetFlags()
			cmd.Flags().AddGoFlagSet(a.flagSet(c, a.lang()))
			localizeHelpFlag(cmd, a.lang())
		}
	}
	root.SetArgs(longFlags(root, args))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) && ee.Err == nil {
		return ee.Code // the command printed what it had to say
	}
	name := a.Name
	if ran != nil {
		name += " " + ran.Name
	}
	fmt.Fprintf(env.Stderr, "%s: %s\n", name, i18n.ErrorText(a.lang(), err))
	if errors.Is(err, ErrUsage) && !errors.As(err, &ee) {
		if ran != nil {
			i18n.Fprintf(env.Stderr, a.lang(), "Run '%s help %s' for usage.\n", a.Name, ran.Name)
		} else {
			i18n.Fprintf(env.Stderr, a.lang(), "Run '%s help' for the commands.\n", a.Name)
		}
	}
	return ExitCode(err)
}

// Cobra builds the command tree. started, when set, is told which
// command runs (for the error line).
func (a *App) Cobra(env *Env, started func(*Command)) *cobra.Command {
	return a.cobra(env, started, a.lang())
}

func (a *App) lang() i18n.Lang {
	if a.Lang == nil {
		return i18n.EN
	}
	return a.Lang()
}

func (a *App) cobra(env *Env, started func(*Command), lang i18n.Lang) *cobra.Command {
	root := &cobra.Command{
		Use:           a.Name,
		Short:         i18n.Text(lang, a.Summary),
		Long:          a.Name + " — " + i18n.Text(lang, a.Summary),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return i18n.Errorf(lang, "%w: unknown command %q", ErrUsage, args[0])
			}
			a.printList(env.Stderr)
			return &ExitError{Code: ExitUsage}
		},
	}
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetIn(env.Stdin)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		if lang != i18n.EN {
			return i18n.Errorf(lang, "%w: %w", ErrUsage, flagError(lang, err))
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	})
	root.SetHelpTemplate(helpTemplateIn(lang))
	root.SetUsageTemplate(helpTemplateIn(lang))
	nodes := map[string]*cobra.Command{"": root}
	a.byCobra = map[*cobra.Command]*Command{}
	var node func(path []string) *cobra.Command
	node = func(path []string) *cobra.Command {
		key := strings.Join(path, " ")
		if n, ok := nodes[key]; ok {
			return n
		}
		parent := node(path[:len(path)-1])
		short := i18n.Text(lang, a.Groups[key])
		if short == "" {
			short = i18n.Sprintf(lang, "%s commands", key)
		}
		g := &cobra.Command{
			Use:         path[len(path)-1],
			Short:       short,
			Annotations: map[string]string{"group": "yes"},
			Args:        cobra.ArbitraryArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return i18n.Errorf(lang, "%w: unknown command %q for %q", ErrUsage, args[0], a.Name+" "+key)
				}
				cmd.SetOut(env.Stderr)
				cmd.Help()
				return &ExitError{Code: ExitUsage}
			},
		}
		parent.AddCommand(g)
		nodes[key] = g
		return g
	}
	names := make([]string, 0, len(a.commands))
	for n := range a.commands {
		names = append(names, n)
	}
	sort.Strings(names) // parents ("service") before their children
	for _, n := range names {
		c := a.commands[n]
		path := strings.Fields(n)
		fs := a.flagSet(c, lang)
		run := func(cmd *cobra.Command, args []string) error {
			if started != nil {
				started(c)
			}
			return c.Run(cmd.Context(), env, args)
		}
		if existing, ok := nodes[n]; ok { // a group made for an earlier child
			existing.Short, existing.Long, existing.Hidden = i18n.Text(lang, c.Short), i18n.Long(lang, strings.TrimSpace(c.Usage)), c.Hidden
			delete(existing.Annotations, "group")
			existing.RunE = run
			existing.Flags().AddGoFlagSet(fs)
			a.byCobra[existing] = c
			continue
		}
		parent := node(path[:len(path)-1])
		cc := &cobra.Command{
			Use:    path[len(path)-1] + " [flags] [args]",
			Short:  i18n.Text(lang, c.Short),
			Long:   i18n.Long(lang, strings.TrimSpace(c.Usage)),
			Hidden: c.Hidden,
			Args:   cobra.ArbitraryArgs,
			RunE:   run,
		}
		cc.Flags().AddGoFlagSet(fs)
		parent.AddCommand(cc)
		nodes[n] = cc
		a.byCobra[cc] = c
	}
	if lang != i18n.EN {
		localizeCobra(root, lang)
	}
	return root
}

// flagSet declares c's flags, their descriptions in lang (the catalog's
// entry for each English usage string; a backquoted `name` in it is the
// flag's placeholder and is kept).
func (a *App) flagSet(c *Command, lang i18n.Lang) *flag.FlagSet {
	a.flagLang = lang
	defer func() { a.flagLang = "" }()
	fs := flag.NewFlagSet(a.Name+" "+c.Name, flag.ContinueOnError)
	if c.Flags != nil {
		c.Flags(fs)
	}
	if lang != i18n.EN {
		fs.VisitAll(func(f *flag.Flag) { f.Usage = i18n.Text(lang, f.Usage) })
	}
	return fs
}

// localizeCobra puts cobra's own commands and flags (help, completion,
// -h/--help) in lang. English keeps cobra's words as they are.
func localizeCobra(root *cobra.Command, lang i18n.Lang) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Short = i18n.Text(lang, "Help about any command")
			c.Long = i18n.Sprintf(lang, "Help provides help for any command in the application.\nSimply type %s help [path to command] for full details.", root.Name())
			run := c.Run
			c.Run = func(c *cobra.Command, args []string) {
				if cmd, _, err := c.Root().Find(args); cmd == nil || err != nil {
					c.Print(i18n.Sprintf(lang, "Unknown help topic %#q\n", args))
					c.Root().Usage()
					return
				}
				run(c, args)
			}
		case "completion":
			c.Short = i18n.Text(lang, "Generate the autocompletion script for the specified shell")
			c.Long = i18n.Sprintf(lang, "Generate the autocompletion script for %s for the specified shell.\nSee each sub-command's help for details on how to use the generated script.\n", root.Name())
			for _, sh := range c.Commands() {
				sh.Short = i18n.Sprintf(lang, "Generate the autocompletion script for %s", sh.Name())
				sh.Long = i18n.Sprintf(lang, "Generate the autocompletion script for the %s shell.\n\nTo load it, see the documentation of your shell, or run:\n\n\t%s completion %s --help\n\nin an English locale (LANG=C) for the steps.", sh.Name(), root.Name(), sh.Name())
				if f := sh.Flags().Lookup("no-descriptions"); f != nil {
					f.Usage = i18n.Text(lang, "disable completion descriptions")
				}
			}
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		localizeHelpFlag(c, lang)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// localizeHelpFlag declares c's -h/--help with its description in lang.
func localizeHelpFlag(c *cobra.Command, lang i18n.Lang) {
	if lang == i18n.EN {
		return
	}
	c.InitDefaultHelpFlag()
	if f := c.Flags().Lookup("help"); f != nil {
		f.Usage = i18n.Sprintf(lang, "help for %s", c.DisplayName())
	}
}

// flagError renders pflag's parse errors in lang.
func flagError(lang i18n.Lang, err error) error {
	var (
		notExist *pflag.NotExistError
		noValue  *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
	)
	switch {
	case errors.As(err, &notExist):
		if s := notExist.GetSpecifiedShortnames(); s != "" {
			return i18n.Errorf(lang, "unknown shorthand flag: %q in -%s", notExist.GetSpecifiedName(), s)
		}
		return i18n.Errorf(lang, "unknown flag: --%s", notExist.GetSpecifiedName())
	case errors.As(err, &noValue) && noValue.GetFlag() != nil:
		return i18n.Errorf(lang, "flag needs an argument: --%s", noValue.GetFlag().Name)
	case errors.As(err, &invalid) && invalid.GetFlag() != nil:
		return i18n.Errorf(lang, "invalid argument %q for --%s: %w", invalid.GetValue(), invalid.GetFlag().Name, invalid.Unwrap())
	}
	return err
}

// helpTemplate keeps the help the commands were written for: the usage
// line, the command's own text (what it does, examples, exit codes), its
// subcommands, then its flags.
const helpTemplate = `Usage: {{.CommandPath}}{{if .Annotations.group}} <command>{{else if .HasParent}}{{if .HasAvailableLocalFlags}} [flags]{{end}} [args]{{else}} <command> [flags] [args]{{end}}
{{with or .Long .Short}}
{{.}}
{{end}}{{if .HasAvailableSubCommands}}
Commands:{{range .Commands}}{{if .IsAvailableCommand}}
  {{rpad .Name .NamePadding}} {{.Short}}{{end}}{{end}}

Run '{{.CommandPath}} <command> --help' for details.
{{end}}{{if .HasAvailableLocalFlags}}
Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}
{{end}}`

func init() {
	// The flags' "(default x)" is pflag's: the template puts it in the
	// help's language.
	cobra.AddTemplateFunc("edgegwFlagWords", func(lang, usages string) string {
		return strings.ReplaceAll(usages, " (default ", i18n.Text(i18n.Lang(lang), " (default "))
	})
}

// helpTemplateIn is helpTemplate with its words in lang.
func helpTemplateIn(lang i18n.Lang) string {
	if lang == i18n.EN {
		return helpTemplate
	}
	return strings.NewReplacer(
		"trimTrailingWhitespaces}}", "trimTrailingWhitespaces | edgegwFlagWords \""+string(lang)+"\"}}",
		"Usage: ", i18n.Text(lang, "Usage: "),
		"<command>", i18n.Text(lang, "<command>"),
		"[flags]", i18n.Text(lang, "[flags]"),
		"[args]", i18n.Text(lang, "[args]"),
		"Commands:", i18n.Text(lang, "Commands:"),
		"Flags:", i18n.Text(lang, "Flags:"),
		" --help' for details.", i18n.Text(lang, " --help' for details."),
		"Run '", i18n.Text(lang, "Run '"),
	).Replace(helpTemplate)
}

// longFlags turns the single-dash long flags the standard flag package
// took (-config FILE) into cobra's --config, so scripts written for
// earlier versions keep working. Arguments after "--" are left alone.
func longFlags(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return args
	}
	out := make([]string, len(args))
	copy(out, args)
	for i, arg := range out {
		if arg == "--" {
			break
		}
		if len(arg) > 2 && arg[0] == '-' && arg[1] != '-' {
			name, _, _ := strings.Cut(arg[1:], "=")
			if len(name) > 1 && cmd.Flags().Lookup(name) != nil {
				out[i] = "-" + arg
			}
		}
	}
	return out
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
	lang := a.lang()
	i18n.Fprintf(w, lang, "%s — %s\n\nUsage: %s <command> [flags] [args]\n\nCommands:\n", a.Name, i18n.Text(lang, a.Summary), a.Name)
	names := make([]string, 0, len(a.commands))
	for n, c := range a.commands {
		if !c.Hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-20s %s\n", n, i18n.Text(lang, a.commands[n].Short))
	}
	fmt.Fprintf(w, "  %-20s %s\n", "completion", i18n.Text(lang, "shell completion script (bash, zsh, fish, powershell)"))
	i18n.Fprintf(w, lang, "\nRun '%s help <command>' or '%s <command> --help' for details.\n", a.Name, a.Name)
}

// Man writes a man page (section 1) for the app and each of its commands
// into dir, for the packages.
func (a *App) Man(dir string, env *Env) error {
	if env == nil {
		env = &Env{Stdout: io.Discard, Stderr: io.Discard}
	}
	root := a.cobra(env, nil, i18n.EN)
	root.DisableAutoGenTag = true
	return doc.GenManTree(root, &doc.GenManHeader{Title: strings.ToUpper(a.Name), Section: "1", Source: a.Name, Manual: a.Name + " manual"}, dir)
}

// ManCommand is the hidden `gen-man --dir DIR` command that writes a's man
// pages, for the packages; each program registers it.
func ManCommand(a *App) *Command {
	var dir string
	return &Command{
		Name:   "gen-man",
		Short:  "write the man pages (for the packages)",
		Hidden: true,
		Usage: "Writes a man page for " + a.Name + " and each of its commands into --dir.\n\nExample:\n  " +
			a.Name + " gen-man --dir dist/man",
		Flags: func(fs *flag.FlagSet) { fs.StringVar(&dir, "dir", "man", "`directory` to write the pages into") },
		Run: func(ctx context.Context, env *Env, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: unexpected argument %q", ErrUsage, args[0])
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			return a.Man(dir, env)
		},
	}
}
