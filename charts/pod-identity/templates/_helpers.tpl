{{/* Chart name, overridable. */}}
{{- define "pod-identity.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified base name: the release name when it already contains the chart name. */}}
{{- define "pod-identity.fullname" -}}
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

{{- define "pod-identity.mic" -}}{{ include "pod-identity.fullname" . | trunc 59 | trimSuffix "-" }}-mic{{- end -}}
{{- define "pod-identity.nmi" -}}{{ include "pod-identity.fullname" . | trunc 59 | trimSuffix "-" }}-nmi{{- end -}}

{{- define "pod-identity.labels" -}}
app.kubernetes.io/name: {{ include "pod-identity.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "pod-identity.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pod-identity.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pod-identity.micImage" -}}
{{ .Values.image.repository }}/{{ .Values.mic.image }}:{{ default .Chart.AppVersion .Values.mic.tag }}
{{- end -}}

{{- define "pod-identity.nmiImage" -}}
{{ .Values.image.repository }}/{{ .Values.nmi.image }}:{{ default .Chart.AppVersion .Values.nmi.tag }}
{{- end -}}

{{/* The standard mode is the default; managed mode installs no MIC. */}}
{{- define "pod-identity.standard" -}}
{{- if eq (lower .Values.operationMode) "standard" -}}true{{- end -}}
{{- end -}}

{{/* The one label the MIC exception matches (an exception matches on any single label pair). */}}
{{- define "pod-identity.micExceptionLabel" -}}
aadpodidentity.k8s.io/exception: {{ include "pod-identity.mic" . }}
{{- end -}}

{{/*
Migration from aad-pod-identity (docs/migration.md): while upstream's MIC and NMI still run, NMI moves to
its own chain and to ports upstream's NMI does not hold, and MIC shares upstream's Endpoints lock.
*/}}
{{- define "pod-identity.migrating" -}}
{{- if .Values.migration.fromAadPodIdentity.enabled }}true{{ end }}
{{- end }}

{{- define "pod-identity.nmiProbePort" -}}
{{- if include "pod-identity.migrating" . }}{{ .Values.migration.fromAadPodIdentity.nmiProbePort }}{{ else }}{{ .Values.nmi.probePort }}{{ end }}
{{- end }}

{{- define "pod-identity.nmiMetricsPort" -}}
{{- if include "pod-identity.migrating" . }}{{ .Values.migration.fromAadPodIdentity.nmiPrometheusPort }}{{ else }}{{ default 9090 .Values.nmi.prometheusPort }}{{ end }}
{{- end }}

{{- define "pod-identity.nmiHostTokenPort" -}}
{{- if include "pod-identity.migrating" . }}{{ .Values.migration.fromAadPodIdentity.nmiHostTokenPort }}{{ else }}{{ .Values.nmi.hostTokenPort }}{{ end }}
{{- end }}

{{/* Where MIC's leader lock lives: upstream's lock namespace while migrating. */}}
{{- define "pod-identity.micLockNamespace" -}}
{{- if include "pod-identity.migrating" . }}{{ .Values.migration.fromAadPodIdentity.upstreamLockNamespace }}{{ else }}{{ default .Release.Namespace .Values.mic.leaderElection.namespace }}{{ end }}
{{- end }}
