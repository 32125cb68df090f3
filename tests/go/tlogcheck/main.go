// tlogcheck verifies Provenance's checkpoints and proofs with Go's own transparency-log code
// (golang.org/x/mod/sumdb/note and .../tlog), written independently of ours.
//
// Input on stdin, one JSON object:
//
//	{"vkey": "name+id+key", "checkpoint": "<signed note>",
//	 "inclusion": [{"index": 3, "leaf_hash": "<b64>", "proof": ["<b64>", ...]}],
//	 "consistency": [{"size": 5, "root": "<b64>", "proof": ["<b64>", ...]}]}
//
// Inclusion proofs are checked against the checkpoint's tree; consistency proofs go from the
// given older tree to the checkpoint's. Prints "ok" and exits 0 only when everything holds.
//
// With "url" instead of "checkpoint", it follows a running log over C2SP tlog-tiles: it fetches
// <url>/checkpoint, reads hash tiles through tlog.TileHashReader (which checks every tile
// against the signed tree), recomputes the root, proves and checks the inclusion of each entry
// in "records" (read from its entry bundle), and proves consistency from each older tree in
// "consistency" ("size" and "root" only; the proof comes from the tiles).
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type input struct {
	URL        string  `json:"url"`
	Records    []int64 `json:"records"`
	Vkey       string  `json:"vkey"`
	Checkpoint string  `json:"checkpoint"`
	Inclusion  []struct {
		Index    int64    `json:"index"`
		LeafHash string   `json:"leaf_hash"`
		Proof    []string `json:"proof"`
	} `json:"inclusion"`
	Consistency []struct {
		Size  int64    `json:"size"`
		Root  string   `json:"root"`
		Proof []string `json:"proof"`
	} `json:"consistency"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", args...)
	os.Exit(1)
}

func hash(b64 string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != tlog.HashSize {
		fail("bad hash %q", b64)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func hashes(list []string) []tlog.Hash {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		out[i] = hash(s)
	}
	return out
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail("reading input: %v", err)
	}
	v, err := note.NewVerifier(in.Vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	if in.URL != "" {
		in.Checkpoint = string(fetch(in.URL + "/checkpoint"))
	}
	n, err := note.Open([]byte(in.Checkpoint), note.VerifierList(v))
	if err != nil {
		fail("opening checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint body too short: %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	root := hash(lines[2])
	if in.URL != "" {
		follow(in, lines[0], size, root)
		return
	}
	for _, p := range in.Inclusion {
		if err := tlog.CheckRecord(tlog.RecordProof(hashes(p.Proof)), size, root, p.Index, hash(p.LeafHash)); err != nil {
			fail("inclusion of %d in %d: %v", p.Index, size, err)
		}
	}
	for _, p := range in.Consistency {
		if err := tlog.CheckTree(tlog.TreeProof(hashes(p.Proof)), size, root, p.Size, hash(p.Root)); err != nil {
			fail("consistency %d -> %d: %v", p.Size, size, err)
		}
	}
	fmt.Printf("ok origin=%s size=%d inclusion=%d consistency=%d\n", lines[0], size, len(in.Inclusion), len(in.Consistency))
}

func fetch(url string) []byte {
	r, err := http.Get(url)
	if err != nil {
		fail("GET %s: %v", url, err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != 200 {
		fail("GET %s: status %d, %v", url, r.StatusCode, err)
	}
	return body
}

// tiles reads C2SP tlog-tiles over HTTP; Go's sumdb paths carry the tile height, C2SP's do not.
type tiles struct {
	url     string
	fetched int
}

func (t *tiles) Height() int { return 8 }

func (t *tiles) ReadTiles(list []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(list))
	for i, tile := range list {
		out[i] = fetch(t.url + "/tile/" + strings.TrimPrefix(tile.Path(), "tile/8/"))
		t.fetched++
	}
	return out, nil
}

func (t *tiles) SaveTiles(list []tlog.Tile, data [][]byte) {}

func follow(in input, origin string, size int64, root tlog.Hash) {
	reader := &tiles{url: in.URL}
	hr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, reader)
	got, err := tlog.TreeHash(size, hr)
	if err != nil || got != root {
		fail("tree hash from tiles: %v (%v, want %v)", err, got, root)
	}
	for _, i := range in.Records {
		if i < 0 || i >= size {
			fail("record %d outside the tree of %d", i, size)
		}
		w := size - (i/256)*256
		if w > 256 {
			w = 256
		}
		path := strings.TrimPrefix(tlog.Tile{H: 8, L: 0, N: i / 256, W: int(w)}.Path(), "tile/8/0/")
		bundle := fetch(in.URL + "/tile/entries/" + path)
		var data []byte
		for k := int64(0); k <= i%256; k++ {
			if len(bundle) < 2 {
				fail("entry bundle %s too short", path)
			}
			l := int(bundle[0])<<8 | int(bundle[1])
			if len(bundle) < 2+l {
				fail("entry bundle %s truncated", path)
			}
			data, bundle = bundle[2:2+l], bundle[2+l:]
		}
		proof, err := tlog.ProveRecord(size, i, hr)
		if err != nil {
			fail("proving record %d: %v", i, err)
		}
		if err := tlog.CheckRecord(proof, size, root, i, tlog.RecordHash(data)); err != nil {
			fail("record %d: %v", i, err)
		}
	}
	for _, c := range in.Consistency {
		proof, err := tlog.ProveTree(size, c.Size, hr)
		if err != nil {
			fail("proving consistency %d -> %d: %v", c.Size, size, err)
		}
		if err := tlog.CheckTree(proof, size, root, c.Size, hash(c.Root)); err != nil {
			fail("consistency %d -> %d: %v", c.Size, size, err)
		}
	}
	fmt.Printf("ok origin=%s size=%d records=%d consistency=%d tiles=%d\n", origin, size, len(in.Records), len(in.Consistency), reader.fetched)
}
