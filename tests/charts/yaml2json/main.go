// yaml2json: multi-document YAML on stdin -> one JSON array on stdout.
//
//	yaml2json < manifests.yaml > manifests.json
//
// Documents are separated by lines starting with "---" (as `helm template`
// output and kubectl use them); each is converted with ghodss/yaml (the
// conversion Helm and Kubernetes use: YAML 1.1 -> JSON, numbers as JSON
// numbers), strictly: a duplicate key is an error, as kubectl --validate=strict.
// Documents that are empty or only comments (JSON null) are left out; the
// array holds the others in input order. A document that is not valid YAML
// makes it exit 1 with "yaml2json: document N (line L): <error>" on stderr,
// N counting documents from 1 and L the document's first line in the input.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/ghodss/yaml"
)

var separator = regexp.MustCompile(`^---(\s|$)`)

type document struct {
	text      string
	firstLine int
}

// splitDocuments splits a YAML stream on "---" lines; text after "--- " on
// the separator line belongs to the new document.
func splitDocuments(in string) []document {
	var docs []document
	var cur strings.Builder
	start := 1
	flush := func() {
		if len(docs) > 0 || strings.TrimSpace(cur.String()) != "" {
			docs = append(docs, document{cur.String(), start})
		}
		cur.Reset()
	}
	for i, line := range strings.SplitAfter(in, "\n") {
		if separator.MatchString(line) {
			flush()
			start = i + 1
			line = strings.TrimPrefix(line, "---")
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

// convert returns the JSON array of the non-empty documents of in.
func convert(in string) ([]byte, error) {
	var parts [][]byte
	for n, d := range splitDocuments(in) {
		j, err := yaml.YAMLToJSONStrict([]byte(d.text))
		if err != nil {
			return nil, fmt.Errorf("document %d (line %d): %v", n+1, d.firstLine, err)
		}
		if !bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			parts = append(parts, j)
		}
	}
	out := append([]byte("["), bytes.Join(parts, []byte(","))...)
	return append(out, "]\n"...), nil
}

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: yaml2json < in.yaml > out.json")
		os.Exit(2)
	}
	in, err := io.ReadAll(os.Stdin)
	if err == nil {
		var out []byte
		if out, err = convert(string(in)); err == nil {
			_, err = os.Stdout.Write(out)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "yaml2json: %v\n", err)
		os.Exit(1)
	}
}
