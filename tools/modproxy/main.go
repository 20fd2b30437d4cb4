// Command modproxy writes a file-based Go module proxy (GOPROXY=file://DIR)
// holding the modules of a working tree at one version, so that consumers
// outside the workspace can resolve them exactly as they would from a real
// proxy after a release. scripts/release-check.sh uses it; it is not part
// of any module users import (this module is outside go.work).
//
//	go run . -version v0.1.0 -out /tmp/proxy ../../qb ../../em ...
//
// Each directory must hold a go.mod. Its module is zipped as the module
// zip format says (golang.org/x/mod/zip: nested modules, vendor trees and
// VCS files left out) and written with its go.mod, .info and list files.
// Nothing in the go.mod is rewritten: a replace directive or a requirement
// on a sibling version that was not published makes the consumer fail,
// which is what the release check is for.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

func main() {
	version := flag.String("version", "", "the version to publish every module at (e.g. v0.1.0)")
	out := flag.String("out", "", "the proxy directory to write")
	flag.Parse()
	if *version == "" || *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: modproxy -version vX.Y.Z -out DIR MODULE_DIR...")
		os.Exit(2)
	}
	for _, dir := range flag.Args() {
		if err := publish(*out, dir, *version); err != nil {
			fmt.Fprintln(os.Stderr, "modproxy:", err)
			os.Exit(1)
		}
	}
}

// publish writes the module in dir to the proxy at out as version v.
func publish(out, dir, v string) error {
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	f, err := modfile.ParseLax(filepath.Join(dir, "go.mod"), gomod, nil)
	if err != nil {
		return err
	}
	if f.Module == nil {
		return fmt.Errorf("%s: go.mod has no module line", dir)
	}
	mv := module.Version{Path: f.Module.Mod.Path, Version: v}
	if err := module.Check(mv.Path, mv.Version); err != nil {
		return err
	}
	esc, err := module.EscapePath(mv.Path)
	if err != nil {
		return err
	}
	at := filepath.Join(out, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	z, err := os.Create(filepath.Join(at, v+".zip"))
	if err != nil {
		return err
	}
	if err := zip.CreateFromDir(z, mv, dir); err != nil {
		z.Close()
		return fmt.Errorf("%s: %w", dir, err)
	}
	if err := z.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(at, v+".mod"), gomod, 0o644); err != nil {
		return err
	}
	info, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{v, time.Now().UTC().Truncate(time.Second)})
	if err := os.WriteFile(filepath.Join(at, v+".info"), info, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(at, "list"), []byte(v+"\n"), 0o644)
}
