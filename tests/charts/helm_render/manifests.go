// Contract: formatManifests turns the rendered templates into helm
// template's stdout (helm's releaseutil.SortManifests + action.Install):
// files in lexical order, each split into YAML documents on "---" lines,
// each document parsed (a YAML error fails: "YAML parse error on <file>"),
// documents with a helm.sh/hook annotation printed after the others, both
// groups stably ordered by Helm's InstallOrder of kinds (unknown kinds last,
// alphabetically), each as "---\n# Source: <file>\n<document>\n".
// Files whose name is "_*" or ends in NOTES.txt, and blank files, give none.
package main

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/ghodss/yaml"
)

var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService",
}

var hookEvents = map[string]bool{
	"pre-install": true, "post-install": true, "pre-delete": true, "post-delete": true,
	"pre-upgrade": true, "post-upgrade": true, "pre-rollback": true, "post-rollback": true,
	"test": true, "test-success": true,
}

// Helm's SplitManifests separator.
var docSep = regexp.MustCompile("(?:^|\\s*\n)---\\s*")

type simpleHead struct {
	Version  string `json:"apiVersion"`
	Kind     string `json:"kind,omitempty"`
	Metadata *struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata,omitempty"`
}

type manifest struct {
	source, content, kind string
}

func splitManifests(s string) []string {
	var docs []string
	for _, d := range docSep.Split(strings.TrimSpace(s), -1) {
		if d = strings.TrimSpace(d); d != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

func sortByKind(ms []manifest) {
	order := map[string]int{}
	for i, k := range installOrder {
		order[k] = i
	}
	sort.SliceStable(ms, func(i, j int) bool {
		a, aok := order[ms[i].kind]
		b, bok := order[ms[j].kind]
		switch {
		case !aok && !bok:
			return ms[i].kind < ms[j].kind
		case !aok:
			return false
		case !bok:
			return true
		}
		return a < b
	})
}

func formatManifests(rendered map[string]string) (string, error) {
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)
	var generic, hooks []manifest
	for _, name := range names {
		content := rendered[name]
		if strings.HasPrefix(path.Base(name), "_") || strings.HasSuffix(name, "NOTES.txt") ||
			strings.TrimSpace(content) == "" {
			continue
		}
		for _, doc := range splitManifests(content) {
			var head simpleHead
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return "", fmt.Errorf("YAML parse error on %s: %v", name, err)
			}
			m := manifest{source: name, content: doc, kind: head.Kind}
			hook := ""
			if head.Metadata != nil {
				hook = head.Metadata.Annotations["helm.sh/hook"]
			}
			if hook == "" {
				generic = append(generic, m)
				continue
			}
			known := true
			for _, h := range strings.Split(hook, ",") {
				known = known && hookEvents[strings.ToLower(strings.TrimSpace(h))]
			}
			if known { // Helm drops documents with an unknown hook
				hooks = append(hooks, m)
			}
		}
	}
	sortByKind(generic)
	sortByKind(hooks)
	var b strings.Builder
	for _, m := range generic {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.source, m.content)
	}
	out := strings.TrimSpace(b.String()) + "\n"
	for _, m := range hooks {
		out += fmt.Sprintf("---\n# Source: %s\n%s\n", m.source, m.content)
	}
	return out, nil
}
