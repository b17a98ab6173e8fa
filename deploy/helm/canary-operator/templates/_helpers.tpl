{{/*
Names and labels shared by every template (and by templates/rbac.yaml).
*/}}

{{/* The chart's name, or nameOverride; at most 63 characters. */}}
{{- define "canary-operator.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The name of the release's objects: fullnameOverride; else the release name alone when it
already says the chart's name; else "<release>-<name>". At most 63 characters.
*/}}
{{- define "canary-operator.fullname" -}}
{{- $name := .Values.nameOverride | default .Chart.Name -}}
{{- $composed := ternary .Release.Name (printf "%s-%s" .Release.Name $name) (contains $name .Release.Name) -}}
{{- .Values.fullnameOverride | default $composed | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "canary-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "canary-operator.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the operator's pods; never change them (selectors are immutable). */}}
{{- define "canary-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canary-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object of the release. */}}
{{- define "canary-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "canary-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: canary-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The operator's image reference; the tag defaults to the chart's appVersion. */}}
{{- define "canary-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The kopf peering name, or "" for one standalone operator. Several replicas must peer:
without it each would act on every Canary.
*/}}
{{- define "canary-operator.peeringName" -}}
{{- if gt (int .Values.replicas) 1 -}}
{{- include "canary-operator.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* The port kopf's liveness endpoint listens on (the image EXPOSEs it too). */}}
{{- define "canary-operator.healthPort" -}}8080{{- end -}}

{{/* The port of the operator's own /metrics, scraped through the ServiceMonitor. */}}
{{- define "canary-operator.metricsPort" -}}8081{{- end -}}
