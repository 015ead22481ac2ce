package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"imagent/config"
)

// TestRegionOverride: a region's limits file beside the configuration replaces the default
// entries; a region whose file cannot be found stops the agent rather than let it judge by
// the national numbers.
func TestRegionOverride(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	p, file, err := laneParams(cfg, dir)
	if err != nil || file != "" {
		t.Fatalf("national: %v %q", err, file)
	}
	if l, _ := p.Limit("tsi", "high_idle", "hc_ppm", "b"); l.EffectiveFrom != "2023-07-01" {
		t.Fatalf("default limit b from %s", l.EffectiveFrom)
	}
	cfg.Station.Region = "example"
	if _, _, err := laneParams(cfg, dir); err == nil || !strings.Contains(err.Error(), `region "example"`) {
		t.Fatalf("missing region file: %v", err)
	}
	src, err := os.ReadFile("../config/testdata/region-example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "regions"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "regions", "example.toml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	p, file, err = laneParams(cfg, dir)
	if err != nil || file != filepath.Join(dir, "regions", "example.toml") {
		t.Fatalf("region file: %v %q", err, file)
	}
	if l, _ := p.Limit("tsi", "high_idle", "hc_ppm", "b"); l.EffectiveFrom != "2019-07-01" {
		t.Errorf("overridden limit b from %s, want the region's 2019-07-01", l.EffectiveFrom)
	}
	if err := os.WriteFile(filepath.Join(dir, "regions", "example.toml"), []byte("[[limit]]\nmethod = \"tsi\"\nvalue = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := laneParams(cfg, dir); err == nil || !strings.Contains(err.Error(), "example.toml:3") {
		t.Errorf("a broken region file must be refused with its line: %v", err)
	}
}
