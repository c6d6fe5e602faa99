// Contract: go tests of yaml2json's convert: documents split on "---" lines
// (also "--- " with content), empty and comment-only documents dropped,
// numbers kept as numbers, duplicate keys rejected, and a bad document named by number and line.
package main

import (
	"strings"
	"testing"
)

func TestConvert(t *testing.T) {
	in := "---\n# Source: a.yaml\napiVersion: v1\nkind: ConfigMap\ndata:\n  num: 3\n" +
		"---\n# only a comment\n---\n\n--- {kind: Service}\n---\nlist:\n- a\n- |\n  x\n  --- not a separator\n"
	got, err := convert(in)
	want := `[{"apiVersion":"v1","data":{"num":3},"kind":"ConfigMap"},{"kind":"Service"},{"list":["a","x\n--- not a separator\n"]}]` + "\n"
	if err != nil || string(got) != want {
		t.Fatalf("convert = %s, %v\nwant %s", got, err, want)
	}
	if got, err := convert(""); err != nil || string(got) != "[]\n" {
		t.Fatalf("convert(\"\") = %q, %v", got, err)
	}
}

func TestBadDocumentIsNamed(t *testing.T) {
	in := "a: 1\n---\nb: 2\n---\nc: [unclosed\n"
	_, err := convert(in)
	if err == nil || !strings.HasPrefix(err.Error(), "document 3 (line 4): ") {
		t.Fatalf("err = %v, want document 3 (line 4)", err)
	}
	_, err = convert("a: 1\na: 2\n")
	if err == nil || !strings.Contains(err.Error(), "document 1 (line 1)") {
		t.Fatalf("duplicate key: err = %v", err)
	}
}
