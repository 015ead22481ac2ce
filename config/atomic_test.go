package config

import (
	"os"
	"path/filepath"
	"testing"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "imagent.toml")

	// First write: a new file, mode 0600, no .prev.
	if err := WriteAtomic(path, []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "v1" {
		t.Fatalf("content %q", got)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %v, want 0600", info.Mode().Perm())
	}
	if _, err := os.Stat(path + ".prev"); !os.IsNotExist(err) {
		t.Errorf(".prev exists after the first write: %v", err)
	}

	// Second write keeps the first version and the file's mode.
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(path, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "v2" {
		t.Fatalf("content %q, want v2", got)
	}
	if got := readFile(t, path+".prev"); got != "v1" {
		t.Fatalf(".prev %q, want v1", got)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("mode after replace: %v, %v; want 0640", info.Mode().Perm(), err)
	}

	// Third write: .prev moves on.
	if err := WriteAtomic(path, []byte("v3")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path+".prev"); got != "v2" {
		t.Fatalf(".prev %q, want v2", got)
	}

	// No temporary files are left behind.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Errorf("directory holds %q, want only the file and its .prev", names)
	}
}

func TestWriteAtomicErrors(t *testing.T) {
	dir := t.TempDir()
	// A directory in the way.
	if err := WriteAtomic(dir, []byte("x")); err == nil {
		t.Error("writing over a directory succeeded")
	}
	// A missing parent directory.
	if err := WriteAtomic(filepath.Join(dir, "no", "such.toml"), []byte("x")); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("failed writes left %d files behind", len(entries))
	}
}
