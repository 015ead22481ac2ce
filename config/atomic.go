package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteAtomic replaces the file at path with data so that a crash or power
// cut at any moment leaves either the old or the new content, never a mix:
// data goes to a temporary file in the same directory, is synced, renamed
// over path, and the directory is synced. The version being replaced is kept
// as path+".prev". A new file gets mode 0600 (configuration files hold the
// broker password); a replaced file keeps its mode.
func WriteAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	mode := fs.FileMode(0o600)
	old, statErr := os.Stat(path)
	switch {
	case statErr == nil && !old.Mode().IsRegular():
		return fmt.Errorf("config: write %s: not a regular file", path)
	case statErr == nil:
		mode = old.Mode().Perm()
	case !errors.Is(statErr, fs.ErrNotExist):
		return fmt.Errorf("config: write %s: %w", path, statErr)
	}

	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("config: write %s: sync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}

	if statErr == nil {
		if err = keepPrevious(path); err != nil {
			return fmt.Errorf("config: write %s: keep previous version: %w", path, err)
		}
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err = syncDir(dir); err != nil {
		return fmt.Errorf("config: write %s: sync directory: %w", path, err)
	}
	return nil
}

// keepPrevious makes path+".prev" a copy of path. A hard link is tried first
// (the current file stays in place until the rename replaces it); where links
// are not supported the content is copied and synced.
func keepPrevious(path string) error {
	prev := path + ".prev"
	if err := os.Remove(prev); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if os.Link(path, prev) == nil {
		return nil
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return err
	}
	dst, err := os.OpenFile(prev, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		return err
	}
	if err := dst.Sync(); err != nil {
		_ = dst.Close()
		return err
	}
	return dst.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
