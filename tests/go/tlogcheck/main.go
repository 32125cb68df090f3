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
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type input struct {
	Vkey       string `json:"vkey"`
	Checkpoint string `json:"checkpoint"`
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
