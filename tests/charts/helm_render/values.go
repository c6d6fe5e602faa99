// Contract: the final .Values as Helm 3 computes them for one chart.
//   - readValueFiles: the -f files merged in order (later wins, maps merge
//     deeply, a null is kept as a null: helm's cli/values mergeMaps).
//   - coalesceValues: the user values over the chart's values.yaml
//     (chartutil.CoalesceValues): a user null deletes the key; a table and a
//     non-table do not merge (the user's side is kept, with Helm's warning).
//   - validateValues: values.schema.json via gojsonschema, with Helm's error
//     text ("- <field>: <description>" per error).
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ghodss/yaml"
	"github.com/xeipuuv/gojsonschema"
)

func readValueFiles(paths []string) (map[string]interface{}, error) {
	base := map[string]interface{}{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		current := map[string]interface{}{}
		if err := yaml.Unmarshal(data, &current); err != nil {
			return nil, fmt.Errorf("failed to parse %s: %v", p, err)
		}
		base = mergeMaps(base, current)
	}
	return base, nil
}

func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if om, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(om, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesceValues merges chart defaults (src) into user values (dst, which
// wins) and returns dst. Warnings go to warn.
func coalesceValues(warn io.Writer, dst, src map[string]interface{}, prefix string) map[string]interface{} {
	if dst == nil {
		dst = map[string]interface{}{}
	}
	for key, val := range src {
		full := key
		if prefix != "" {
			full = prefix + "." + key
		}
		dv, ok := dst[key]
		switch {
		case !ok:
			dst[key] = val
		case dv == nil:
			delete(dst, key)
		default:
			dm, dIsMap := dv.(map[string]interface{})
			sm, sIsMap := val.(map[string]interface{})
			switch {
			case dIsMap && sIsMap:
				coalesceValues(warn, dm, sm, full)
			case sIsMap:
				fmt.Fprintf(warn, "coalesce.go: warning: cannot overwrite table with non table for %s (%v)\n", full, val)
			case dIsMap && val != nil:
				fmt.Fprintf(warn, "coalesce.go: warning: destination for %s is a table. Ignoring non-table value (%v)\n", full, val)
			}
		}
	}
	return dst
}

func validateValues(chartName string, schema []byte, values map[string]interface{}) error {
	if schema == nil {
		return nil
	}
	y, err := yaml.Marshal(values)
	if err != nil {
		return err
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return err
	}
	if bytes.Equal(j, []byte("null")) {
		j = []byte("{}")
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(j))
	if err != nil {
		return fmt.Errorf("%s: values.schema.json: %v", chartName, err)
	}
	if result.Valid() {
		return nil
	}
	var sb strings.Builder
	sb.WriteString("values don't meet the specifications of the schema(s) in the following chart(s):\n")
	sb.WriteString(chartName + ":\n")
	for _, e := range result.Errors() {
		sb.WriteString(fmt.Sprintf("- %s\n", e))
	}
	return fmt.Errorf("%s", sb.String())
}
