// Contract: go tests of helm-render against testdata/fixture (a chart) and
// testdata/values/*.yaml (-f overrides). Each test asserts rendered content
// or an exact error, so a broken renderer fails them:
// value merging (deep merge, later -f wins, null deletes), include / tpl /
// required / toYaml / toJson / fromJson / lookup, .Files (Get, Lines, Glob,
// AsConfig, .helmignore), .Release / .Chart / .Capabilities / .Template,
// helm template's output order and format, NOTES.txt, schema rejection
// naming the field, template errors naming file and line, exit status 1.
package main

import (
	"bytes"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ghodss/yaml"
)

const fixture = "testdata/fixture"

func renderArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	o, err := parseArgs(append(args, fixture))
	if err != nil {
		t.Fatalf("parseArgs: %v", err)
	}
	var out, warn bytes.Buffer
	err = run(o, &out, &warn)
	return out.String(), err
}

type doc struct {
	source string
	obj    map[string]interface{}
}

// renderDocs renders and parses the output, checking helm template's framing.
func renderDocs(t *testing.T, args ...string) []doc {
	t.Helper()
	out, err := renderArgs(t, args...)
	if err != nil {
		t.Fatalf("render %v: %v", args, err)
	}
	if !strings.HasPrefix(out, "---\n# Source: ") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("output is not in helm template's format:\n%s", out)
	}
	var docs []doc
	for _, part := range strings.Split(strings.TrimPrefix(out, "---\n"), "\n---\n") {
		first, rest, _ := strings.Cut(part, "\n")
		d := doc{source: strings.TrimPrefix(first, "# Source: ")}
		if err := yaml.Unmarshal([]byte(rest+"\n"), &d.obj); err != nil {
			t.Fatalf("document from %s does not parse: %v\n%s", d.source, err, rest)
		}
		docs = append(docs, d)
	}
	return docs
}

func find(t *testing.T, docs []doc, kind, name string) map[string]interface{} {
	t.Helper()
	for _, d := range docs {
		md, _ := d.obj["metadata"].(map[string]interface{})
		if d.obj["kind"] == kind && md["name"] == name {
			return d.obj
		}
	}
	t.Fatalf("no %s/%s in output", kind, name)
	return nil
}

// get walks a path of map keys and list indexes.
func get(v interface{}, keys ...interface{}) interface{} {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]interface{})
			v = m[k]
		case int:
			l, _ := v.([]interface{})
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestOrderAndSources(t *testing.T) {
	docs := renderDocs(t)
	var got []string
	for _, d := range docs {
		got = append(got, d.source+" "+d.obj["kind"].(string)+"/"+get(d.obj, "metadata", "name").(string))
	}
	want := []string{
		"fixture/templates/configmap.yaml ConfigMap/release-name-fixture",
		"fixture/templates/configmap.yaml ConfigMap/release-name-fixture-files",
		"fixture/templates/deployment.yaml Service/release-name-fixture",
		"fixture/templates/deployment.yaml Deployment/release-name-fixture",
		"fixture/templates/servicemonitor.yaml ServiceMonitor/release-name-fixture",
		"fixture/templates/hook.yaml ConfigMap/release-name-fixture-hook",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("documents:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBuiltinObjectsAndFunctions(t *testing.T) {
	docs := renderDocs(t, "--release", "rel", "--namespace", "ns")
	cm := find(t, docs, "ConfigMap", "rel-fixture")
	want := map[string]interface{}{
		"greeting":      "hello rel",                        // tpl
		"tplInclude":    "rel-fixture",                      // tpl calling include
		"appConf":       "key=value\nother=2\n",             // .Files.Get
		"appConfLines":  "2",                                // .Files.Lines
		"ignoredFile":   "",                                 // .helmignore'd
		"missing":       "",                                 // <no value> removed
		"kubeVersion":   "v1.28.0",                          // .Capabilities
		"hasMonitoring": "true",                             // APIVersions.Has
		"template":      "fixture/templates/configmap.yaml", // .Template.Name
		"release":       "Helm/rel/true/false/1",            // .Release
		"chart":         "fixture-0.1.0",                    // .Chart
		"lookup":        "0",                                // lookup: empty map
		"roundTrip":     "team: core\ntier: backend",        // toJson|fromJson|toYaml
	}
	if !reflect.DeepEqual(cm["data"], want) {
		t.Errorf("ConfigMap data = %#v\nwant %#v", cm["data"], want)
	}
	if ns := get(cm, "metadata", "namespace"); ns != "ns" {
		t.Errorf("namespace = %v", ns)
	}
	labels := map[string]interface{}{ // include | nindent with toYaml inside
		"app.kubernetes.io/name": "fixture", "app.kubernetes.io/version": "1.2.3",
		"team": "core", "tier": "backend",
	}
	if got := get(cm, "metadata", "labels"); !reflect.DeepEqual(got, labels) {
		t.Errorf("labels = %#v", got)
	}
	files := find(t, docs, "ConfigMap", "rel-fixture-files") // Glob + AsConfig
	if got := files["data"]; !reflect.DeepEqual(got, map[string]interface{}{"app.conf": "key=value\nother=2\n"}) {
		t.Errorf("Glob.AsConfig data = %#v", got)
	}
	dep := find(t, docs, "Deployment", "rel-fixture")
	if img := get(dep, "spec", "template", "spec", "containers", 0, "image"); img != "example/app:1.2.3" {
		t.Errorf("image = %v (default .Chart.AppVersion)", img)
	}
}

func TestValueMergingAndNullDeletion(t *testing.T) {
	docs := renderDocs(t, "-f", "testdata/values/override-a.yaml", "--values=testdata/values/override-b.yaml")
	dep := find(t, docs, "Deployment", "release-name-fixture")
	if r := get(dep, "spec", "replicas"); r != float64(5) {
		t.Errorf("replicas = %v, want 5 (the later -f wins)", r)
	}
	if img := get(dep, "spec", "template", "spec", "containers", 0, "image"); img != "example/app:v1" {
		t.Errorf("image = %v, want example/app:v1 (deep merge keeps image.repository)", img)
	}
	labels := map[string]interface{}{
		"app.kubernetes.io/name": "fixture", "app.kubernetes.io/version": "1.2.3",
		"team": "core", "extra": "yes",
	}
	if got := get(dep, "metadata", "labels"); !reflect.DeepEqual(got, labels) {
		t.Errorf("labels = %#v\nwant %#v (tier: null deletes the default)", got, labels)
	}
}

func TestCoalesceRules(t *testing.T) {
	chart := map[string]interface{}{
		"a": map[string]interface{}{"b": 1.0, "c": map[string]interface{}{"d": 2.0, "e": 3.0}},
		"t": map[string]interface{}{"x": 1.0},
		"s": "scalar",
	}
	user := mergeMaps(
		map[string]interface{}{"a": map[string]interface{}{"c": map[string]interface{}{"d": nil}}, "new": nil},
		map[string]interface{}{"t": "not-a-table", "s": map[string]interface{}{"k": "v"}},
	)
	var warn bytes.Buffer
	got := coalesceValues(&warn, user, chart, "")
	want := map[string]interface{}{
		"a":   map[string]interface{}{"b": 1.0, "c": map[string]interface{}{"e": 3.0}},
		"t":   "not-a-table",                    // user side kept, warned
		"s":   map[string]interface{}{"k": "v"}, // user side kept
		"new": nil,                              // a null with no default stays (as Helm)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("coalesce = %#v\nwant %#v", got, want)
	}
	if !strings.Contains(warn.String(), "cannot overwrite table with non table for t") {
		t.Errorf("missing warning, got %q", warn.String())
	}
}

func TestRequiredFails(t *testing.T) {
	_, err := renderArgs(t, "-f", "testdata/values/no-repository.yaml")
	want := "execution error at (fixture/templates/deployment.yaml:20:21): image.repository is required"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

func TestTemplateErrorNamesFileAndLine(t *testing.T) {
	_, err := renderArgs(t, "-f", "testdata/values/break-template.yaml")
	if err == nil || !strings.Contains(err.Error(), "fixture/templates/deployment.yaml:22:") {
		t.Fatalf("err = %v, want one naming fixture/templates/deployment.yaml:22", err)
	}
}

func TestSchemaRejectionNamesField(t *testing.T) {
	_, err := renderArgs(t, "-f", "testdata/values/bad-replicas.yaml")
	want := "values don't meet the specifications of the schema(s) in the following chart(s):\n" +
		"fixture:\n- replicaCount: Invalid type. Expected: integer, given: string\n"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %q\nwant %q", err, want)
	}
}

func TestNotes(t *testing.T) {
	out, err := renderArgs(t, "--notes", "--release", "r1", "-n", "ns1")
	if want := "Release r1 installed in ns1; image example/app\n"; err != nil || out != want {
		t.Fatalf("notes = %q, %v; want %q", out, err, want)
	}
}

func TestKubeVersionConstraint(t *testing.T) {
	_, err := renderArgs(t, "--kube-version", "v1.20.0")
	if err == nil || !strings.Contains(err.Error(), "chart requires kubeVersion: >=1.25.0-0") {
		t.Fatalf("err = %v", err)
	}
}

func TestGlob(t *testing.T) {
	f := files{"a/x.conf": nil, "a/b/y.conf": nil, "z.txt": nil}
	cases := map[string][]string{
		"a/*.conf":       {"a/x.conf"},
		"a/**.conf":      {"a/b/y.conf", "a/x.conf"},
		"**":             {"a/b/y.conf", "a/x.conf", "z.txt"},
		"{z,q}.t?t":      {"z.txt"},
		"[!a]*":          {"z.txt"},
		"nothing/*.conf": nil,
	}
	for pattern, want := range cases {
		var got []string
		for name := range f.Glob(pattern) {
			got = append(got, name)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Glob(%q) = %v, want %v", pattern, got, want)
		}
	}
}

// TestMainExitStatus runs the real main() in a child process.
func TestMainExitStatus(t *testing.T) {
	if os.Getenv("HELM_RENDER_RUN_MAIN") == "1" {
		os.Args = append([]string{"helm-render"}, strings.Split(os.Getenv("HELM_RENDER_ARGS"), " ")...)
		main()
		os.Exit(0)
	}
	for args, wantCode := range map[string]int{
		fixture: 0,
		"-f testdata/values/bad-replicas.yaml " + fixture: 1,
		"--no-such-flag " + fixture:                       1,
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMainExitStatus$")
		cmd.Env = append(os.Environ(), "HELM_RENDER_RUN_MAIN=1", "HELM_RENDER_ARGS="+args)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != wantCode || (wantCode == 1 && !strings.HasPrefix(stderr.String(), "Error: ")) {
			t.Errorf("helm-render %s: exit %d, stderr %q; want exit %d", args, code, stderr.String(), wantCode)
		}
	}
}
