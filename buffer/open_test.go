package buffer

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// closedDBFile creates an outbox at path with n records (every other one acked), closes it so
// everything is checkpointed into the main file, and returns the file's bytes.
func closedDBFile(t *testing.T, path string, n int) []byte {
	t.Helper()
	o := openT(t, path)
	for i := range n {
		m, err := o.Append(context.Background(), KindTest, builder("t", 1500))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := o.Ack(context.Background(), m.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WAL still there after Close: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorruptFileIsQuarantined(t *testing.T) {
	cases := []struct {
		name     string
		damage   func(orig []byte) []byte
		wantSeqs bool // the old seq counter can still be read from the moved file
	}{
		{"garbage", func(orig []byte) []byte {
			g := make([]byte, len(orig))
			r := rand.New(rand.NewPCG(1, 2))
			for i := range g {
				g[i] = byte(r.UintN(256))
			}
			return g
		}, false},
		{"truncated", func(orig []byte) []byte { return orig[:len(orig)/2] }, false},
		{"short header", func(orig []byte) []byte { return orig[:60] }, false},
		{"damaged page", func(orig []byte) []byte {
			// Scribble over the middle of the file, past the schema and meta pages.
			d := bytes.Clone(orig)
			for i := len(d) / 2; i < len(d)/2+4096 && i < len(d); i++ {
				d[i] = 0x5a
			}
			return d
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "o.db")
			orig := closedDBFile(t, path, 60)
			bad := tc.damage(orig)
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}

			o, err := Open(ctx, path, Opts{})
			if err != nil {
				t.Fatalf("Open of a damaged file: %v", err)
			}
			defer o.Close()
			q := o.Quarantined()
			if len(q) != 1 || !strings.HasPrefix(q[0], path+".corrupt-") {
				t.Fatalf("Quarantined() = %v", q)
			}
			moved, err := os.ReadFile(q[0])
			if err != nil {
				t.Fatalf("moved file: %v", err)
			}
			if !bytes.Equal(moved, bad) {
				t.Fatal("the moved file is not byte-for-byte the damaged file")
			}
			// Nothing else is left beside it: no -wal or -shm made by checking or salvaging.
			if extra, _ := filepath.Glob(q[0] + "?*"); len(extra) != 0 {
				t.Fatalf("files left beside the quarantined one: %v", extra)
			}
			integrityCheck(t, o.db)

			st, err := o.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			total := st.ByState[Pending] + st.ByState[Sent] + st.ByState[Acked] + st.ByState[Rejected]
			if total != 0 {
				t.Fatalf("new outbox is not empty: %v", st.ByState)
			}
			var gotPrev []byte
			m, err := o.Append(ctx, KindEvent, func(seq int64, prev []byte) (string, []byte, error) {
				gotPrev = prev
				return "after-quarantine", []byte("{}"), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if gotPrev != nil {
				t.Fatalf("first record after quarantine got prevHash %x, want nil (a new chain)", gotPrev)
			}
			// The seq counter is salvaged when the moved file still says where it stood.
			if tc.wantSeqs && m.Seq != 61 {
				t.Fatalf("first seq after quarantine = %d, want 61", m.Seq)
			}
			if !tc.wantSeqs && m.Seq < 1 {
				t.Fatalf("first seq after quarantine = %d", m.Seq)
			}
			t.Logf("first seq after quarantine: %d", m.Seq)
		})
	}
}

func TestCorruptWithWALIsQuarantinedTogether(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "o.db")
	closedDBFile(t, path, 60)
	// More records go to the WAL; copy the files while the outbox is open, as a power cut
	// would leave them (a hot WAL, no clean close).
	o := openT(t, path)
	appendN(t, o, KindTest, "w", 5)
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(path + "-wal")
	if err != nil || len(wal) == 0 {
		t.Fatalf("no WAL to copy: %v", err)
	}
	o.Close()
	os.Remove(path + "-shm")
	// Damage a page that the WAL does not cover.
	for i := len(db) / 2; i < len(db)/2+4096; i++ {
		db[i] = 0x5a
	}
	if err := os.WriteFile(path, db, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+"-wal", wal, 0o644); err != nil {
		t.Fatal(err)
	}

	o, err = Open(ctx, path, Opts{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	q := o.Quarantined()
	if len(q) != 2 || q[1] != q[0]+"-wal" {
		t.Fatalf("Quarantined() = %v, want the database and its -wal", q)
	}
	for i, want := range [][]byte{db, wal} {
		got, err := os.ReadFile(q[i])
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s is missing or not byte-for-byte what was found (err %v)", q[i], err)
		}
	}
	// The counter is read through the moved WAL: the 5 records in it count.
	m := appendN(t, o, KindTest, "after", 1)[0]
	if m.Seq != 66 {
		t.Fatalf("first seq after quarantine = %d, want 66", m.Seq)
	}
}

func TestMigrateFromVersionZero(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	// A plain SQLite file at user_version 0, holding something of its own.
	path := filepath.Join(dir, "v0.db")
	raw, err := sql.Open("sqlite3", dsn(path, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE notes(x TEXT); INSERT INTO notes VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	o, err := Open(ctx, path, Opts{})
	if err != nil {
		t.Fatal(err)
	}
	var ver int
	var note string
	o.db.QueryRow(`PRAGMA user_version`).Scan(&ver)
	if err := o.db.QueryRow(`SELECT x FROM notes`).Scan(&note); err != nil || note != "kept" {
		t.Fatalf("the file's own data: %q, %v", note, err)
	}
	if ver != SchemaVersion() {
		t.Fatalf("user_version after migration = %d, want %d", ver, SchemaVersion())
	}
	appendN(t, o, KindTest, "t", 2)
	verifyChain(t, o)
	o.Close()

	// Every intermediate version migrates too and keeps its rows.
	for v := 1; v < SchemaVersion(); v++ {
		p := filepath.Join(dir, "mid.db")
		db, err := openChecked(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := migrate(ctx, db, v); err != nil {
			t.Fatal(err)
		}
		db.Close()
		o, err := Open(ctx, p, Opts{})
		if err != nil {
			t.Fatalf("from version %d: %v", v, err)
		}
		o.Close()
	}
}

func TestMigrationStepsAreIndividuallyCommitted(t *testing.T) {
	ctx := context.Background()
	db, err := openChecked(ctx, filepath.Join(t.TempDir(), "o.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrate(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	var ver int
	db.QueryRow(`PRAGMA user_version`).Scan(&ver)
	if ver != 1 {
		t.Fatalf("user_version = %d after migrating to 1", ver)
	}
	if err := migrate(ctx, db, SchemaVersion()+1); err == nil {
		t.Fatal("migrate past the last step succeeded")
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "o.db")
	o := openT(t, path)
	appendN(t, o, KindTest, "t", 3)
	o.Close()

	raw, err := sql.Open("sqlite3", dsn(path, ""))
	if err != nil {
		t.Fatal(err)
	}
	newer := SchemaVersion() + 1
	if _, err := raw.Exec(`PRAGMA user_version = ` + strconv.Itoa(newer)); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	_, err = Open(ctx, path, Opts{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer file: %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "schema version "+strconv.Itoa(newer)) {
		t.Fatalf("error does not say which version: %v", err)
	}
	// Refused, not quarantined, and still the same data.
	matches, _ := filepath.Glob(path + ".corrupt-*")
	if len(matches) != 0 {
		t.Fatalf("a newer file was moved aside: %v", matches)
	}
	raw, err = sql.Open("sqlite3", dsn(path, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var ver, n int
	raw.QueryRow(`PRAGMA user_version`).Scan(&ver)
	raw.QueryRow(`SELECT count(*) FROM records`).Scan(&n)
	if ver != newer || n != 3 {
		t.Fatalf("after refusal: user_version %d, %d records", ver, n)
	}
}
