package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/crd-ad/crd/server"
)

// modelFlags collects repeated -m NAME=PATH (or PATH, named after the file).
type modelFlags []struct{ name, path string }

func (m *modelFlags) String() string { return "" }

func (m *modelFlags) Set(v string) error {
	name, path, ok := strings.Cut(v, "=")
	if !ok {
		path = v
		name = strings.TrimSuffix(filepath.Base(v), filepath.Ext(v))
	}
	if name == "" || path == "" {
		return fmt.Errorf("want NAME=PATH or PATH, got %q", v)
	}
	*m = append(*m, struct{ name, path string }{name, path})
	return nil
}

// serveFlags are crd serve's settings.
type serveFlags struct {
	models                   modelFlags
	addr                     string
	opts                     server.Options
	tokenFile, cert, key     string
	watch, watchModel        string
	watchInterval, reload    time.Duration
	shutdown                 time.Duration
	logLevel                 string
	logJSON                  bool
	readTimeout, idleTimeout time.Duration
}

// runServe serves until ctx ends: main cancels it on SIGTERM or SIGINT.
func runServe(ctx context.Context, args []string) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return serve(ctx, args, hup, nil)
}

// serve runs the server until ctx ends (SIGTERM or SIGINT), reloading the
// models on each value from hup. listening, when set, is told the address.
func serve(ctx context.Context, args []string, hup <-chan os.Signal, listening func(addr string)) error {
	fs := newFlags("serve", "-m [NAME=]MODEL... [--addr HOST:PORT] [flags]", `  crd serve -m ball_screw.crd                              # http://127.0.0.1:8080/
  crd serve -m screw=screw.crd -m ball=ball_screw.crd --addr 0.0.0.0:8080 --token-file /etc/crd/token
  crd serve -m ball_screw.crd --watch /srv/camera1 --webhook http://127.0.0.1:9000/defect
  crd serve -m ball_screw.crd --tls-cert cert.pem --tls-key key.pem --reload-poll 5s
`)
	var f serveFlags
	fs.Var(&f.models, "m", "model file, as NAME=PATH or PATH (named after the file); repeat for several stations")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address (loopback unless told otherwise)")
	fs.IntVar(&f.opts.MaxBatch, "max-batch", server.DefaultMaxBatch, "largest backbone batch gathered from concurrent requests")
	fs.DurationVar(&f.opts.MaxWait, "max-wait", 50*time.Millisecond, "how long a batch waits for more images after its first, when more are expected (a lone client never waits)")
	fs.IntVar(&f.opts.QueueSize, "queue", 32, "images per model that may wait for a batch (503 with Retry-After beyond)")
	fs.Int64Var(&f.opts.MaxBodyBytes, "max-body", 32<<20, "largest request body in bytes (413 beyond)")
	fs.DurationVar(&f.opts.RequestTimeout, "timeout", 30*time.Second, "per-request timeout for a prediction")
	fs.DurationVar(&f.readTimeout, "read-timeout", time.Minute, "HTTP read timeout (whole request)")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 2*time.Minute, "HTTP keep-alive idle timeout")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding a bearer token required by everything but /healthz, /readyz and the page's static files")
	fs.StringVar(&f.cert, "tls-cert", "", "TLS certificate (PEM); with --tls-key, serve HTTPS")
	fs.StringVar(&f.key, "tls-key", "", "TLS private key (PEM)")
	fs.StringVar(&f.watch, "watch", "", "score each new image dropped into this folder; results go to crd-results.jsonl and ok/, defect/")
	fs.StringVar(&f.watchModel, "watch-model", "", "model that scores the watched folder (needed with several models)")
	fs.DurationVar(&f.watchInterval, "watch-interval", time.Second, "how often the watched folder is listed")
	fs.StringVar(&f.opts.Webhook, "webhook", "", "POST a JSON event to this URL for each defect")
	fs.DurationVar(&f.reload, "reload-poll", 0, "check the model files this often and reload a changed one (0 = only on SIGHUP)")
	fs.DurationVar(&f.shutdown, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for in-flight requests")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug (one line per request), info, warn or error")
	fs.BoolVar(&f.logJSON, "log-json", false, "log JSON lines instead of text")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q (models go with -m)", pos[0])
	}
	if len(f.models) == 0 {
		return usagef("-m MODEL is required")
	}
	if (f.cert == "") != (f.key == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if f.opts.Webhook != "" {
		if u, err := url.Parse(f.opts.Webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--webhook %q: want an http:// or https:// URL", f.opts.Webhook)
		}
	}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return err
		}
		if f.opts.Token = strings.TrimSpace(string(b)); f.opts.Token == "" {
			return fmt.Errorf("--token-file %s is empty", f.tokenFile)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usagef("--log-level: %v", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, hopts)
	if f.logJSON {
		h = slog.NewJSONHandler(os.Stderr, hopts)
	}
	log := slog.New(h)
	f.opts.Logger = log
	return runServer(ctx, &f, hup, listening)
}

func runServer(ctx context.Context, f *serveFlags, hup <-chan os.Signal, listening func(string)) error {
	log := f.opts.Logger
	s := server.New(f.opts)
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: f.readTimeout,
		WriteTimeout: f.opts.RequestTimeout + 30*time.Second, IdleTimeout: f.idleTimeout, MaxHeaderBytes: 1 << 20,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 2)
	go func() {
		var err error
		if f.cert != "" {
			err = hs.ServeTLS(ln, f.cert, f.key)
		} else {
			err = hs.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	scheme := map[bool]string{true: "https", false: "http"}[f.cert != ""]
	log.Info("listening", "url", scheme+"://"+ln.Addr().String()+"/", "auth", f.opts.Token != "")
	if listening != nil {
		listening(ln.Addr().String())
	}
	// Workers stop on bg's end: at shutdown or on a failure.
	bg, cancel := context.WithCancel(ctx)
	defer cancel()
	shutdown := func() {
		cancel()
		sctx, done := context.WithTimeout(context.Background(), f.shutdown)
		defer done()
		if err := hs.Shutdown(sctx); err != nil {
			log.Error("shutdown: in-flight requests cut short", "err", err)
		}
		s.Close()
	}
	for _, m := range f.models {
		if err := s.AddModel(m.name, m.path); err != nil {
			shutdown()
			return err
		}
	}
	log.Info("ready", "models", len(f.models))
	watchDone := make(chan struct{})
	if f.watch != "" {
		go func() {
			defer close(watchDone)
			if err := s.Watch(bg, server.WatchOptions{Dir: f.watch, Model: f.watchModel, Interval: f.watchInterval}); err != nil {
				errc <- err
			}
		}()
	} else {
		close(watchDone)
	}
	if f.reload > 0 {
		go s.WatchModelFiles(bg, f.reload)
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down: finishing in-flight requests", "max_wait", f.shutdown)
			cancel()
			<-watchDone
			shutdown()
			log.Info("stopped")
			return nil
		case <-hup:
			log.Info("SIGHUP: reloading the models")
			if err := s.Reload(); err != nil {
				log.Error("reload", "err", err)
			}
		case err := <-errc:
			cancel()
			<-watchDone
			shutdown()
			return err
		}
	}
}
