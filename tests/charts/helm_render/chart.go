// Contract: loadChart reads a chart directory the way Helm 3's loader does for
// a chart without dependencies: Chart.yaml (metadata, validated), values.yaml,
// values.schema.json, templates/** (the templates) and every other file (the
// .Files), after applying .helmignore plus Helm's default rule templates/.?*.
// A chart with dependencies or a charts/ directory is refused (not supported).
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver"
	"github.com/ghodss/yaml"
)

// Maintainer and Metadata mirror helm.sh/helm/v3/pkg/chart: the .Chart object.
type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

type Metadata struct {
	Name         string                   `json:"name,omitempty"`
	Home         string                   `json:"home,omitempty"`
	Sources      []string                 `json:"sources,omitempty"`
	Version      string                   `json:"version,omitempty"`
	Description  string                   `json:"description,omitempty"`
	Keywords     []string                 `json:"keywords,omitempty"`
	Maintainers  []*Maintainer            `json:"maintainers,omitempty"`
	Icon         string                   `json:"icon,omitempty"`
	APIVersion   string                   `json:"apiVersion,omitempty"`
	Condition    string                   `json:"condition,omitempty"`
	Tags         string                   `json:"tags,omitempty"`
	AppVersion   string                   `json:"appVersion,omitempty"`
	Deprecated   bool                     `json:"deprecated,omitempty"`
	Annotations  map[string]string        `json:"annotations,omitempty"`
	KubeVersion  string                   `json:"kubeVersion,omitempty"`
	Dependencies []map[string]interface{} `json:"dependencies,omitempty"`
	Type         string                   `json:"type,omitempty"`
}

type Chart struct {
	Metadata  *Metadata
	Values    map[string]interface{}
	Schema    []byte            // nil when there is no values.schema.json
	Templates map[string]string // "templates/x.yaml" -> text
	Files     files             // every other file, by slash path
}

func loadChart(dir string) (*Chart, error) {
	rules, err := loadIgnoreRules(filepath.Join(dir, ".helmignore"))
	if err != nil {
		return nil, err
	}
	c := &Chart{Templates: map[string]string{}, Files: files{}}
	var chartYAML, valuesYAML []byte
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if rules.ignore(rel, fi.IsDir()) {
			if fi.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if fi.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
		switch {
		case rel == "Chart.yaml":
			chartYAML = data
		case rel == "values.yaml":
			valuesYAML = data
		case rel == "values.schema.json":
			c.Schema = data
		case rel == "Chart.lock" || rel == "requirements.yaml" || rel == "requirements.lock":
		case strings.HasPrefix(rel, "templates/"):
			c.Templates[rel] = string(data)
		case strings.HasPrefix(rel, "charts/"):
			return fmt.Errorf("%s: subcharts are not supported by helm-render", rel)
		default:
			c.Files[rel] = data
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if chartYAML == nil {
		return nil, fmt.Errorf("%s: Chart.yaml file is missing", dir)
	}
	c.Metadata = &Metadata{}
	if err := yaml.Unmarshal(chartYAML, c.Metadata); err != nil {
		return nil, fmt.Errorf("cannot load Chart.yaml: %v", err)
	}
	if err := validateMetadata(c.Metadata); err != nil {
		return nil, err
	}
	c.Values = map[string]interface{}{}
	if err := yaml.Unmarshal(valuesYAML, &c.Values); err != nil {
		return nil, fmt.Errorf("cannot load values.yaml: %v", err)
	}
	if c.Values == nil {
		c.Values = map[string]interface{}{}
	}
	return c, nil
}

// validateMetadata is the part of Helm's Metadata.Validate that applies here.
func validateMetadata(m *Metadata) error {
	switch {
	case m.APIVersion == "":
		return fmt.Errorf("validation: chart.metadata.apiVersion is required")
	case m.Name == "":
		return fmt.Errorf("validation: chart.metadata.name is required")
	case m.Name != path.Base(m.Name) || strings.ContainsAny(m.Name, `/\`):
		return fmt.Errorf("validation: chart.metadata.name %q is invalid", m.Name)
	case m.Version == "":
		return fmt.Errorf("validation: chart.metadata.version is required")
	case m.Type != "" && m.Type != "application" && m.Type != "library":
		return fmt.Errorf("validation: chart.metadata.type must be application or library")
	case len(m.Dependencies) > 0:
		return fmt.Errorf("chart %s has dependencies: not supported by helm-render", m.Name)
	}
	if _, err := semver.NewVersion(m.Version); err != nil {
		return fmt.Errorf("validation: chart.metadata.version %q is invalid", m.Version)
	}
	return nil
}

// ignoreRule is one .helmignore line, with Helm's (pkg/ignore) semantics:
// "/x" matches from the chart root, "a/b" matches the whole relative path,
// a pattern without "/" matches the base name; "x/" matches directories
// only; "!x" ignores everything that does NOT match (Helm's quirk).
type ignoreRule struct {
	pattern       string
	negate, isDir bool
}

type ignoreRules []ignoreRule

func loadIgnoreRules(file string) (ignoreRules, error) {
	var rules ignoreRules
	if f, err := os.Open(file); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			line := strings.TrimSpace(s.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if strings.Contains(line, "**") {
				return nil, fmt.Errorf(".helmignore: double-star (**) syntax is not supported")
			}
			r := ignoreRule{}
			if strings.HasPrefix(line, "!") {
				r.negate, line = true, line[1:]
			}
			if strings.HasSuffix(line, "/") {
				r.isDir, line = true, strings.TrimSuffix(line, "/")
			}
			if _, err := filepath.Match(line, "x"); err != nil {
				return nil, fmt.Errorf(".helmignore: bad pattern %q: %v", line, err)
			}
			r.pattern = line
			rules = append(rules, r)
		}
		if err := s.Err(); err != nil {
			return nil, err
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	return append(rules, ignoreRule{pattern: "templates/.?*"}), nil
}

func (r ignoreRule) match(rel string) bool {
	name, pattern := rel, r.pattern
	switch {
	case strings.HasPrefix(pattern, "/"):
		pattern = strings.TrimPrefix(pattern, "/")
	case !strings.Contains(pattern, "/"):
		name = path.Base(rel)
	}
	ok, _ := filepath.Match(pattern, name)
	return ok
}

func (rules ignoreRules) ignore(rel string, isDir bool) bool {
	for _, r := range rules {
		if r.negate {
			if (r.isDir && !isDir) || !r.match(rel) {
				return true
			}
			continue
		}
		if r.isDir && !isDir {
			continue
		}
		if r.match(rel) {
			return true
		}
	}
	return false
}
