package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/internal/testenv"
	"github.com/crd-ad/crd/synth"
	"github.com/crd-ad/crd/weights"
)

func TestServeUsage(t *testing.T) {
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"serve"}, "-m MODEL is required"},
		{[]string{"serve", "-m", "a.crd", "--tls-cert", "c.pem"}, "go together"},
		{[]string{"serve", "-m", "a.crd", "--webhook", "ftp://x"}, "http:// or https://"},
		{[]string{"serve", "-m", "a.crd", "--token-file", "/nonexistent/token"}, "/nonexistent/token"},
		{[]string{"serve", "-m", "=x.crd"}, "NAME=PATH"},
		{[]string{"serve", "-m", "a.crd", "extra"}, `unexpected argument "extra"`},
		{[]string{"serve", "-m", "missing.crd", "--addr", "127.0.0.1:0"}, "missing.crd"},
		{[]string{"bench", "serve", "-m", "a.crd"}, "--data DIR are required"},
		{[]string{"bench", "serve", "-m", "a.crd", "--data", "d", "--max-batch", "0"}, "--max-batch must be 1 or more"},
	}
	for _, c := range cases {
		code, _, stderr := capture(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.msg) {
			t.Errorf("crd %s: exit %d, stderr %q; want an error with %q", strings.Join(c.args, " "), code, stderr, c.msg)
		}
	}
}

// requireBackbone skips the test when the default backbone's weights are
// missing (scripts/setup.sh fetches them), except in CI, where it fails.
func requireBackbone(t *testing.T) {
	t.Helper()
	if _, err := weights.CachePath("inception_v3"); err == nil {
		_, err := backbone.Load("inception_v3")
		testenv.Require(t, err, "scripts/setup.sh fetches it")
	}
}

// synthModel generates a synthetic category in data and trains model on it
// with crd train at the given input size and hold-out fraction, and any
// further flags.
func synthModel(t *testing.T, data, model string, o synth.Options, size, holdout string, flags ...string) {
	t.Helper()
	if err := synth.Generate(data, o); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"train", "--data", data, "-o", model, "--size", size, "--holdout", holdout, "--quiet"}, flags...)
	if code, _, stderr := capture(t, args...); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns a pool
// that trusts it.
func selfSigned(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "crd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// TestServe runs crd serve over TLS with a token and a watched folder,
// sends SIGHUP's reload and shuts it down as SIGTERM would.
func TestServe(t *testing.T) {
	requireBackbone(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "cat")
	model := filepath.Join(dir, "m.crd")
	synthModel(t, data, model, synth.Options{Seed: 2, Size: 64, NumTrain: 6, NumTestGood: 1, NumPerDefect: 1}, "75", "0.34")
	cert, key, pool := selfSigned(t, dir)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("t0ken\n"), 0o600)
	watch := filepath.Join(dir, "camera")
	os.MkdirAll(watch, 0o755)
	img, err := os.ReadFile(filepath.Join(data, "test", "good", "000.png"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(watch, "part1.png"), img, 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"-m", "line=" + model, "--addr", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
			"--token-file", token, "--watch", watch, "--watch-interval", "20ms", "--log-level", "error"}, hup, func(a string) { addr <- a })
	}()
	var base string
	select {
	case a := <-addr:
		base = "https://" + a
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path string) int {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for deadline := time.Now().Add(time.Minute); get("/readyz") != 200; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not ready after a minute")
		}
	}
	predict := func(tok string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", base+"/v1/models/line/predict", strings.NewReader(string(img)))
		req.Header.Set("Content-Type", "image/png")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, _ := predict("wrong"); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	code, out := predict("t0ken")
	if code != 200 || out["label"] == nil {
		t.Fatalf("predict: %d %v", code, out)
	}
	hup <- syscall.SIGHUP
	reloaded := `crd_model_reloads_total{model="line",result="ok"} 2`
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		req, _ := http.NewRequest("GET", base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer t0ken")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(text), reloaded) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reload within a minute of SIGHUP:\n%s", text)
		}
	}
	if code, _ := predict("t0ken"); code != 200 {
		t.Fatalf("after SIGHUP: %d", code)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(watch, "crd-results.jsonl")); strings.Count(string(b), "\n") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watched file was not scored within a minute")
		}
	}
	cancel() // SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("no shutdown within a minute")
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}
