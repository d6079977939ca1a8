package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

// Exit codes.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitIntegrity = 3
	exitLocked    = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes ledgerctl with args and returns its exit code. Errors are
// printed on stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetIn(stdin)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	fmt.Fprintf(stderr, "ledgerctl: %v\n", err)
	if code == exitUsage {
		fmt.Fprintln(stderr, "Run 'ledgerctl --help' for usage.")
	}
	return code
}

// usageError marks bad command-line input (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// runError marks an error returned by a command's own work, as opposed to
// one cobra raised while parsing the command line.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var ue *usageError
	var re *runError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case !errors.As(err, &re):
		// Raised by cobra before the command ran: unknown command or
		// flag, wrong number of arguments.
		return exitUsage
	case errors.Is(err, ledger.ErrIntegrity), errors.Is(err, ledger.ErrUnproven), errors.As(err, new(*ledger.CorruptionError)):
		return exitIntegrity
	case errors.Is(err, ledger.ErrLocked):
		return exitLocked
	}
	return exitError
}

// app holds what every command shares.
type app struct {
	stdout, stderr io.Writer
	output         string // "text" or "json"
}

func (a *app) json() bool { return a.output == "json" }

// wrap marks the errors of a command's RunE as runtime errors.
func wrap(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := f(cmd, args); err != nil {
			var ue *usageError
			if errors.As(err, &ue) {
				return err
			}
			return &runError{err}
		}
		return nil
	}
}

// newRootCmd builds the ledgerctl command tree writing to stdout and stderr.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "ledgerctl",
		Short: "Inspect, query, verify and maintain exledger ledgers",
		Long: `ledgerctl inspects, queries, verifies and maintains exledger ledgers.

Start with 'ledgerctl demo': it writes a realistic 1M-event Converge workload
into a temporary ledger, queries it and verifies its hash chain.

Exit codes: 0 ok, 1 error, 2 usage, 3 integrity violation, 4 ledger in use.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if a.output != "text" && a.output != "json" {
				return usagef("-o must be text or json, not %q", a.output)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(stderr)
			cmd.Help()
			return usagef("no command given")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		newDemoCmd(a),
		newStatCmd(a),
		newQueryCmd(a),
		newGetCmd(a),
		newTraceCmd(a),
		newExportCmd(a),
		newImportCmd(a),
		newVerifyCmd(a),
		newDigestCmd(a),
		newCompactCmd(a),
		newRepairCmd(a),
		newBackupCmd(a),
		newTailCmd(a),
		newServeCmd(a),
		newSimilarCmd(a),
		newKeygenCmd(a),
		newCheckpointCmd(a),
		newProveCmd(a),
		newVerifyProofCmd(a),
	)
	return root
}
