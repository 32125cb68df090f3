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
//
// With "tlog_proof" (a C2SP tlog-proof@v1 text, as each entry of an evidence bundle carries)
// and "entry" (the entry's bytes, base64), it checks that one entry as a generic tool would:
// the log's signature on the checkpoint inside, the inclusion proof for the entry's leaf hash,
// and each witness in "witnesses" (cosignature/v1 vkeys) with a valid cosignature on it,
// checked here with crypto/ed25519 from the tlog-cosignature spec alone. Prints
// "ok … cosigned=N".
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
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
	URL        string   `json:"url"`
	Token      string   `json:"token"` // a read token for the entry bundles (authority tier)
	Records    []int64  `json:"records"`
	Vkey       string   `json:"vkey"`
	TlogProof  string   `json:"tlog_proof"`
	Entry      string   `json:"entry"`
	Witnesses  []string `json:"witnesses"`
	Checkpoint string   `json:"checkpoint"`
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
	if in.TlogProof != "" {
		checkTlogProof(in, v)
		return
	}
	readToken = in.Token
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

// readToken is sent as a bearer token when set: a log shows its entries to authorities only.
var readToken string

func fetch(url string) []byte {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		fail("GET %s: %v", url, err)
	}
	if readToken != "" {
		req.Header.Set("Authorization", "Bearer "+readToken)
	}
	r, err := http.DefaultClient.Do(req)
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

// checkTlogProof checks one entry's C2SP tlog-proof@v1 as the spec's "Verifying a tlog proof"
// says: leaf hash, log signature, cosignatures of known witnesses, inclusion.
func checkTlogProof(in input, v note.Verifier) {
	rest := in.TlogProof
	line := func() string {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			fail("tlog-proof: a line without its newline")
		}
		l := rest[:i]
		rest = rest[i+1:]
		return l
	}
	if line() != "c2sp.org/tlog-proof@v1" {
		fail("tlog-proof: not c2sp.org/tlog-proof@v1")
	}
	l := line()
	if strings.HasPrefix(l, "extra ") {
		l = line()
	}
	if !strings.HasPrefix(l, "index ") {
		fail("tlog-proof: no index line: %q", l)
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(l, "index "), 10, 64)
	if err != nil {
		fail("tlog-proof: index: %v", err)
	}
	var proof []tlog.Hash
	for {
		l = line()
		if l == "" {
			break
		}
		proof = append(proof, hash(l))
	}
	n, err := note.Open([]byte(rest), note.VerifierList(v))
	if err != nil {
		fail("tlog-proof: the checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint body too short: %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	entry, err := base64.StdEncoding.DecodeString(in.Entry)
	if err != nil {
		fail("entry: %v", err)
	}
	if err := tlog.CheckRecord(tlog.RecordProof(proof), size, hash(lines[2]), index, tlog.RecordHash(entry)); err != nil {
		fail("inclusion of %d in %d: %v", index, size, err)
	}
	cosigned := 0
	for _, w := range in.Witnesses {
		parts := strings.SplitN(w, "+", 3)
		if len(parts) != 3 {
			fail("witness vkey %q", w)
		}
		raw, err := base64.StdEncoding.DecodeString(parts[2])
		if err != nil || len(raw) != 33 || raw[0] != 0x04 {
			fail("witness vkey %q: not a cosignature/v1 key", w)
		}
		id, err := strconv.ParseUint(parts[1], 16, 32)
		if err != nil {
			fail("witness vkey %q: key id", w)
		}
		// tlog-cosignature: key ID = SHA-256(name || 0x0A || 0x04 || key)[:4].
		h := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
		if binary.BigEndian.Uint32(h[:4]) != uint32(id) {
			fail("witness vkey %q: key id does not match", w)
		}
		for _, sig := range n.UnverifiedSigs {
			if sig.Name != parts[0] || sig.Hash != uint32(id) {
				continue
			}
			blob, err := base64.StdEncoding.DecodeString(sig.Base64)
			if err != nil || len(blob) != 4+8+64 {
				fail("cosignature by %s: %d bytes", parts[0], len(blob))
			}
			ts := binary.BigEndian.Uint64(blob[4:12])
			msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, n.Text)
			if !ed25519.Verify(ed25519.PublicKey(raw[1:]), []byte(msg), blob[12:]) {
				fail("cosignature by %s does not verify", parts[0])
			}
			cosigned++
		}
	}
	fmt.Printf("ok origin=%s size=%d index=%d cosigned=%d\n", lines[0], size, index, cosigned)
}
