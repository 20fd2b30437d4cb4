// Command ferretdb runs an embedded FerretDB v1.24.2 server (SQLite backend)
// that speaks the MongoDB wire protocol.
//
// It exists so that mikro's MongoDB tests can run locally and in CI without a
// real MongoDB server or Docker: start it, read the connection URI it prints,
// point the tests at that URI, and stop it with SIGINT/SIGTERM.
//
// It lives in its own module (not listed in go.work) so that FerretDB's
// dependencies do not change the versions the other modules build with.
// Build and run it with GOWORK=off:
//
//	cd tools/ferretdb && GOWORK=off go build -o ferretdb . && ./ferretdb -listen 127.0.0.1:27017
//
// When the server accepts connections, exactly one line is printed to stdout:
// the MongoDB connection URI, e.g. "mongodb://127.0.0.1:27017/". Logs go to
// stderr, errors only by default (FerretDB logs every failed command, e.g. an
// expected duplicate key error, as a multi-line warning, so warn level is
// noisy in tests); use -log-level or -v for more. On SIGINT/SIGTERM the
// server shuts down and the program exits 0. On error, a one-line message is
// printed to stderr and the program exits 1.
//
// Flags:
//
//	-dir        directory for the SQLite databases (created if missing;
//	            default: a new temporary directory removed on exit)
//	-listen     TCP address to listen on (default 127.0.0.1:27017; use port 0
//	            for a free port, the printed URI has the real one)
//	-log-level  FerretDB log level on stderr: debug, info, warn or error
//	            (default error)
//	-v          same as -log-level debug
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %s\n", oneLine(err.Error()))
		os.Exit(1)
	}
}

// run parses args, starts the server, prints its URI to stdout and serves
// until SIGINT or SIGTERM.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ferretdb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory for SQLite databases (default: temporary directory removed on exit)")
	listen := fs.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	logLevel := fs.String("log-level", "error", "FerretDB log level on stderr: debug, info, warn or error")
	verbose := fs.Bool("v", false, "verbose logging to stderr (same as -log-level debug)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("invalid -log-level %q", *logLevel)
	}
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore default handling so that a second one
	// kills the process if the graceful shutdown hangs (FerretDB gives
	// connected clients up to 3 seconds to disconnect).
	go func() {
		<-ctx.Done()
		stop()
	}()

	srv, err := start(ctx, *dir, *listen, logger)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, srv.URI); err != nil {
		stop()
		<-srv.Done
		return err
	}
	return <-srv.Done
}

// server is a running embedded FerretDB instance.
type server struct {
	// URI is the MongoDB connection URI, e.g. "mongodb://127.0.0.1:27017/".
	URI string
	// Done receives the result of the server once it has stopped (after ctx is
	// canceled) and its temporary directory, if any, has been removed.
	Done <-chan error
}

// start starts FerretDB with the SQLite backend in dir (a new temporary
// directory if empty), listening on the TCP address listen. The listener is
// bound when start returns. The server runs until ctx is canceled.
func start(ctx context.Context, dir, listen string, logger *slog.Logger) (*server, error) {
	cleanup := func() error { return nil }
	if dir == "" {
		tmp, err := os.MkdirTemp("", "ferretdb-")
		if err != nil {
			return nil, err
		}
		dir = tmp
		cleanup = func() error { return os.RemoveAll(tmp) }
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}

	abs, err := filepath.Abs(dir)
	if err != nil {
		_ = cleanup()
		return nil, err
	}
	sqliteURL := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs) + "/"}).String()

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		_ = cleanup()
		return nil, err
	}

	// ferretdb.New binds the listener, so the address (and URI) is known now.
	uri := f.MongoDBURI()

	done := make(chan error, 1)
	go func() {
		err := f.Run(ctx)
		done <- errors.Join(err, cleanup())
	}()
	return &server{URI: uri, Done: done}, nil
}

// oneLine collapses a multi-line message into a single line.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
