{{/*
Name of the chart, or nameOverride. Used for the app.kubernetes.io/name label.
*/}}
{{- define "kuberay-apiserver.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name: "<release>-<chart>", or just the release name when it already
contains the chart name. Cut to 63 characters, the limit of DNS labels (Service names).
*/}}
{{- define "kuberay-apiserver.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "kuberay-apiserver.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of objects that are not namespaced (ClusterRole, ClusterRoleBinding): the full name plus the
release namespace, so releases of the same name in two namespaces do not fight over them.
*/}}
{{- define "kuberay-apiserver.clusterScopedName" -}}
{{- printf "%s-%s" (include "kuberay-apiserver.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "kuberay-apiserver.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "kuberay-apiserver.labels" -}}
helm.sh/chart: {{ include "kuberay-apiserver.chart" . }}
{{ include "kuberay-apiserver.selectorLabels" . }}
app.kubernetes.io/version: {{ include "kuberay-apiserver.imageTag" . | replace "+" "_" | trunc 63 | quote }}
app.kubernetes.io/part-of: kuberay
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select the API server pods (Deployment, Service, PodDisruptionBudget). They never change
after installation, so they hold nothing that depends on a version.
*/}}
{{- define "kuberay-apiserver.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kuberay-apiserver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount the pods run as.
*/}}
{{- define "kuberay-apiserver.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kuberay-apiserver.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image tag: the configured one, else the chart's appVersion.
*/}}
{{- define "kuberay-apiserver.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
True (non-empty) when the chart manages the SQLite volume claim itself.
*/}}
{{- define "kuberay-apiserver.createClaim" -}}
{{- if and (eq .Values.database.mode "sqlite") .Values.persistence.enabled (not .Values.persistence.existingClaim) }}true{{ end }}
{{- end }}

{{/*
Name of the PersistentVolumeClaim holding the SQLite file.
*/}}
{{- define "kuberay-apiserver.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "kuberay-apiserver.fullname" .)) }}
{{- end }}
