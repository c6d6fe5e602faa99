{{/*
Names and labels.
*/}}
{{- define "crossbridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "crossbridge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "crossbridge.headlessName" -}}
{{- printf "%s-headless" (include "crossbridge.fullname" . | trunc 54 | trimSuffix "-") -}}
{{- end -}}

{{- define "crossbridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "crossbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crossbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "crossbridge.labels" -}}
helm.sh/chart: {{ include "crossbridge.chart" . }}
{{ include "crossbridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: crossbridge
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "crossbridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "crossbridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Image reference: repository:tag (tag "" = appVersion), or repository@digest.
*/}}
{{- define "crossbridge.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Fixed in-pod paths. The config directory is one projected volume (the
ConfigMap plus the TLS and tokens Secrets under tls/ and auth/), mounted as a
directory so kubelet's ..data swaps reach the server's hot reload.
*/}}
{{- define "crossbridge.configDir" -}}/etc/crossbridge{{- end -}}
{{- define "crossbridge.tlsDir" -}}/etc/crossbridge/tls{{- end -}}
{{- define "crossbridge.authDir" -}}/etc/crossbridge/auth{{- end -}}

{{/*
crossbridge.config: the server's crossbridge.yml as YAML. The chart's own
keys (pod listen addresses, JSON logs, and what redis / tls / auth imply)
with .Values.config merged over them (mustMergeOverwrite: the user's tree
wins key by key; lists are replaced).
*/}}
{{- define "crossbridge.config" -}}
{{- $server := dict "listen_address" "0.0.0.0:50051" "metrics_listen_address" "0.0.0.0:9464" -}}
{{- $cfg := dict "server" $server "logging" (dict "format" "json") -}}
{{- if .Values.redis.enabled -}}
{{- $url := required "redis.url is required when redis.enabled is true (redis://host[:port][/db])" .Values.redis.url -}}
{{- if regexMatch "://[^/@]*:[^/@]*@" $url -}}
{{- fail "redis.url must not contain a password (it would be stored in a ConfigMap): put it in a Secret and set redis.existingSecret" -}}
{{- end -}}
{{- $_ := set $cfg "storage" (dict "backend" "redis" "redis" (dict "url" $url "password_env" "CROSSBRIDGE_REDIS_PASSWORD")) -}}
{{- end -}}
{{- if .Values.tls.enabled -}}
{{- $_ := required "tls.existingSecret is required when tls.enabled is true (a kubernetes.io/tls Secret with tls.crt, tls.key and, for clientAuth request/require, ca.crt)" .Values.tls.existingSecret -}}
{{- $dir := include "crossbridge.tlsDir" . -}}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" $dir) "key_file" (printf "%s/tls.key" $dir) "client_auth" .Values.tls.clientAuth -}}
{{- if ne .Values.tls.clientAuth "none" -}}
{{- $_ := set $tls "client_ca_file" (printf "%s/ca.crt" $dir) -}}
{{- end -}}
{{- $_ := set $server "tls" $tls -}}
{{- $_ := set $server "health_listen_address" (printf "0.0.0.0:%d" (int .Values.tls.healthPort)) -}}
{{- end -}}
{{- if .Values.auth.enabled -}}
{{- $_ := required "auth.existingSecret is required when auth.enabled is true (a Secret whose key tokens.yml is the tokens file)" .Values.auth.existingSecret -}}
{{- $_ := set $cfg "auth" (dict "enabled" true "tokens_file" (printf "%s/tokens.yml" (include "crossbridge.authDir" .))) -}}
{{- end -}}
{{- toYaml (mustMergeOverwrite $cfg (deepCopy (.Values.config | default dict))) -}}
{{- end -}}

{{/*
crossbridge.portOf ADDRESS: the port of a host:port address (fails on a
missing or 0 port: Services and probes need a fixed one).
*/}}
{{- define "crossbridge.portOf" -}}
{{- $port := regexFind "[0-9]+$" (toString .) -}}
{{- if or (not $port) (eq $port "0") -}}
{{- fail (printf "address %q needs a fixed port (not 0) in a pod" (toString .)) -}}
{{- end -}}
{{- $port -}}
{{- end -}}

{{/*
crossbridge.runtime: facts derived from the merged config, as YAML:
grpcPort, metricsPort (0 = metrics off), healthPort (0 = no health
listener), probePort, tlsOn, drain, shutdown, grace (the pod's
terminationGracePeriodSeconds), passwordEnv.
*/}}
{{- define "crossbridge.runtime" -}}
{{- $cfg := include "crossbridge.config" . | fromYaml -}}
{{- $server := $cfg.server | default dict -}}
{{- $grpcPort := include "crossbridge.portOf" (required "config server.listen_address must not be empty" $server.listen_address) | int -}}
{{- $metricsPort := 0 -}}
{{- if $server.metrics_listen_address -}}
{{- $metricsPort = include "crossbridge.portOf" $server.metrics_listen_address | int -}}
{{- end -}}
{{- $healthPort := 0 -}}
{{- if $server.health_listen_address -}}
{{- $healthPort = include "crossbridge.portOf" $server.health_listen_address | int -}}
{{- end -}}
{{- $tlsOn := ne (dig "tls" "cert_file" "" $server | toString) "" -}}
{{- $probePort := $grpcPort -}}
{{- if $healthPort -}}
{{- $probePort = $healthPort -}}
{{- else if $tlsOn -}}
{{- fail "TLS is on but server.health_listen_address is empty: kubelet gRPC probes cannot speak TLS (use tls.enabled, which sets it)" -}}
{{- end -}}
{{- $drain := float64 (dig "drain_grace_seconds" 2 $server) -}}
{{- $shutdown := float64 (dig "shutdown_timeout_seconds" 10 $server) -}}
{{- $grace := int (ceil (addf $drain $shutdown 5)) -}}
{{- if not (kindIs "invalid" .Values.terminationGracePeriodSeconds) -}}
{{- $grace = int .Values.terminationGracePeriodSeconds -}}
{{- if le (float64 $grace) (addf $drain $shutdown) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than server.drain_grace_seconds + server.shutdown_timeout_seconds (%v + %v), or the pod is killed before it has drained" $grace $drain $shutdown) -}}
{{- end -}}
{{- end -}}
{{- $passwordEnv := "" -}}
{{- if $cfg.storage -}}
{{- $passwordEnv = dig "redis" "password_env" "CROSSBRIDGE_REDIS_PASSWORD" $cfg.storage | toString -}}
{{- else -}}
{{- $passwordEnv = "CROSSBRIDGE_REDIS_PASSWORD" -}}
{{- end -}}
grpcPort: {{ $grpcPort }}
metricsPort: {{ $metricsPort }}
healthPort: {{ $healthPort }}
probePort: {{ $probePort }}
tlsOn: {{ $tlsOn }}
drain: {{ $drain }}
shutdown: {{ $shutdown }}
grace: {{ $grace }}
passwordEnv: {{ $passwordEnv | quote }}
{{- end -}}
