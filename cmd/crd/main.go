// Command crd trains, runs and evaluates CRD anomaly detectors on images of
// good products, and benchmarks them against the nearest-neighbour baseline.
//
// Run `crd help` for the commands and `crd COMMAND --help` for their flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"unicode"
)

type command struct {
	name    string
	summary string
	// run does the command's work; ctx is cancelled by Ctrl-C (SIGINT).
	run func(ctx context.Context, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"train", "train a model on normal images", runTrain},
		{"predict", "score images: raw and normalised score, ok/defect, heatmaps", runPredict},
		{"eval", "evaluate a model on MVTec-layout test data: AUROC, AUPRO, F1-max, HTML report", runEval},
		{"demo", "generate a synthetic dataset, train, evaluate and write a report", runDemo},
		{"merge", "merge CRD models trained on disjoint image sets", runMerge},
		{"calibrate", "set a model's thresholds from held-out normal images", runCalibrate},
		{"bench", "compare CRD with the nearest-neighbour baseline on one dataset", runBench},
		{"backbone", "list, fetch or import backbone weights", runBackbone},
		{"info", "print a model file's header", runInfo},
		{"serve", "serve models over HTTP: API, metrics, web page, watched folder", runServe},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "crd: visual anomaly detection with Collaborative Representation Distance\n\nUsage:\n  crd COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'crd COMMAND --help' for a command's flags and examples.\n")
}

// usageError is a mistake on the command line (an unknown, missing or
// invalid flag or argument): crd prints it with a pointer to --help and
// exits with code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError.
func usagef(format string, a ...any) error {
	return &usageError{fmt.Sprintf(format, a...)}
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// cpuProfileEnv names the environment variable that, when set, makes crd
// write a CPU profile of the whole command to that file (for `go tool pprof`).
const cpuProfileEnv = "CRD_CPUPROFILE"

// startProfile starts the CPU profile that cpuProfileEnv asks for and
// returns the function that stops it and closes the file.
func startProfile() (stop func(), err error) {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(os.Stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			// The first Ctrl-C (or SIGTERM) cancels the command's work; after it the
			// default handling returns, so a second one ends the process.
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			go func() { <-ctx.Done(); stop() }()
			stopProfile, err := startProfile()
			if err == nil {
				err = c.run(ctx, args[1:])
				stopProfile()
			}
			stop()
			var ue *usageError
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.As(err, &ue):
				fmt.Fprintf(os.Stderr, "crd %s: %s\nRun 'crd %s --help' for its flags and examples.\n", c.name, oneLine(err.Error()), c.name)
				return 2
			default:
				fmt.Fprintf(os.Stderr, "crd %s: %s\n", c.name, oneLine(err.Error()))
				return 1
			}
		}
	}
	fmt.Fprintf(os.Stderr, "crd: unknown command %q\n\n", args[0])
	usage(os.Stderr)
	return 2
}

// newFlags makes a command's flag set whose --help prints the usage line,
// the examples and the flags.
func newFlags(name, synopsis, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet("crd "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: crd %s %s\n\nExamples:\n%s\nFlags:\n", name, synopsis, strings.TrimRight(examples, "\n")+"\n")
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags, allowing flags after positional arguments; every
// argument after "--" is positional. --help prints the usage once, on
// stdout; a flag error is a usageError.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(out)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(os.Stdout)
				fs.Usage()
				return nil, flag.ErrHelp
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// oneLine escapes the control characters of s (a newline or a carriage
// return in a file name, say) as Go escapes, so that a message or a table
// row printed with it stays one line and cannot forge others.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// warner returns the Warn function of a command: each warning on its own
// line of stderr, after the progress line is ended.
func warner(p *progress) func(error) {
	return func(err error) { p.done(); fmt.Fprintf(os.Stderr, "warning: %s\n", oneLine(err.Error())) }
}
