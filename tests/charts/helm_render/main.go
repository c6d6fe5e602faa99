// helm-render: renders a Helm 3 chart (no subcharts) as `helm template` does,
// for machines without helm.
//
//	helm-render [--release NAME] [--namespace NS] [-f|--values FILE]...
//	            [--api-versions GV]... [--kube-version V] [--notes] CHART_DIR
//
// stdout: the manifests in helm template's format (see manifests.go), or with
// --notes only the rendered templates/NOTES.txt. Values: values.yaml
// coalesced with the -f files in order (values.go), then checked against
// values.schema.json when present. Template data: .Values, .Release (Name
// "release-name", Namespace "default", Service "Helm", IsInstall, IsUpgrade,
// Revision 1), .Chart (Chart.yaml), .Capabilities (Kubernetes v1.28.0 unless
// --kube-version; API versions of engine.go plus --api-versions), .Template,
// .Files, .Subcharts (empty). Any failure (bad chart or values, schema,
// template, YAML of a rendered document, chart kubeVersion not met) prints
// "Error: <reason>" on stderr and exits 1; warnings go to stderr too.
package main

import (
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/Masterminds/semver"
)

type options struct {
	release, namespace, kubeVersion string
	valueFiles, apiVersions         []string
	notes                           bool
	chartDir                        string
}

const usage = "usage: helm-render [--release NAME] [--namespace NS] [-f VALUES.yaml]... " +
	"[--api-versions GV]... [--kube-version V] [--notes] CHART_DIR"

func parseArgs(args []string) (options, error) {
	o := options{release: "release-name", namespace: "default", kubeVersion: "v1.28.0"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "--") {
			name, hasVal = a, false
		}
		takes := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "--release":
			o.release, err = takes()
		case "--namespace", "-n":
			o.namespace, err = takes()
		case "-f", "--values":
			var v string
			v, err = takes()
			o.valueFiles = append(o.valueFiles, v)
		case "--api-versions", "-a":
			var v string
			v, err = takes()
			o.apiVersions = append(o.apiVersions, strings.Split(v, ",")...)
		case "--kube-version":
			o.kubeVersion, err = takes()
		case "--notes":
			o.notes = true
		default:
			if strings.HasPrefix(a, "-") || o.chartDir != "" {
				return o, fmt.Errorf("unexpected argument %q\n%s", a, usage)
			}
			o.chartDir = a
		}
		if err != nil {
			return o, err
		}
	}
	if o.chartDir == "" {
		return o, fmt.Errorf("no CHART_DIR\n%s", usage)
	}
	return o, nil
}

// run renders per o and writes the manifests (or notes) to stdout.
func run(o options, stdout, stderr io.Writer) error {
	c, err := loadChart(o.chartDir)
	if err != nil {
		return err
	}
	if c.Metadata.Type == "library" {
		return fmt.Errorf("library charts are not installable")
	}
	kv, err := semver.NewVersion(o.kubeVersion)
	if err != nil {
		return fmt.Errorf("invalid kube version %q: %v", o.kubeVersion, err)
	}
	caps := &Capabilities{
		KubeVersion: KubeVersion{Version: "v" + kv.String(), Major: fmt.Sprint(kv.Major()), Minor: fmt.Sprint(kv.Minor())},
		APIVersions: append(append(VersionSet{}, defaultAPIVersions...), o.apiVersions...),
		HelmVersion: BuildInfo{Version: "v3.14.0", GoVersion: "helm-render"},
	}
	if c.Metadata.KubeVersion != "" {
		constraint, err := semver.NewConstraint(c.Metadata.KubeVersion)
		if err != nil || !constraint.Check(kv) {
			return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s",
				c.Metadata.KubeVersion, caps.KubeVersion.Version)
		}
	}
	user, err := readValueFiles(o.valueFiles)
	if err != nil {
		return err
	}
	values := coalesceValues(stderr, user, c.Values, "")
	if err := validateValues(c.Metadata.Name, c.Schema, values); err != nil {
		return err
	}
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": o.release, "Namespace": o.namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart":        c.Metadata,
		"Capabilities": caps,
		"Files":        c.Files,
		"Subcharts":    map[string]interface{}{},
	}
	tpls := map[string]string{}
	for name, text := range c.Templates {
		tpls[path.Join(c.Metadata.Name, name)] = text
	}
	rendered, err := render(tpls, top, path.Join(c.Metadata.Name, "templates"))
	if err != nil {
		return err
	}
	if o.notes {
		_, err = io.WriteString(stdout, rendered[path.Join(c.Metadata.Name, "templates", "NOTES.txt")])
		return err
	}
	out, err := formatManifests(rendered)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, out)
	return err
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if err == nil {
		err = run(o, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}
