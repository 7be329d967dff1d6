{{/* Names ---------------------------------------------------------------------------------- */}}
{{- define "schema.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "schema.fullname" -}}
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

{{- define "schema.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels: call with (dict "ctx" $ "component" "api") ------------------------------------- */}}
{{- define "schema.selectorLabels" -}}
app.kubernetes.io/name: {{ include "schema.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "schema.labels" -}}
helm.sh/chart: {{ include "schema.chart" .ctx }}
{{ include "schema.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: schema
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Images ---------------------------------------------------------------------------------- */}}
{{- define "schema.imageRef" -}}
{{- $tag := default .ctx.Chart.AppVersion .image.tag -}}
{{- $ref := ternary (printf "%s@%s" .image.repository .image.digest) (printf "%s:%s" .image.repository $tag) (not (empty .image.digest)) -}}
{{- if .image.registry -}}
{{- printf "%s/%s" .image.registry $ref -}}
{{- else -}}
{{- $ref -}}
{{- end -}}
{{- end -}}

{{- define "schema.backendImage" -}}
{{- include "schema.imageRef" (dict "ctx" . "image" .Values.image) -}}
{{- end -}}

{{- define "schema.frontendImage" -}}
{{- include "schema.imageRef" (dict "ctx" . "image" .Values.frontend.image) -}}
{{- end -}}

{{/* Secrets and configuration ---------------------------------------------------------------- */}}
{{- define "schema.secretName" -}}
{{- default (printf "%s-env" (include "schema.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "schema.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "schema.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "schema.apiServiceName" -}}
{{- printf "%s-api" (include "schema.fullname" .) -}}
{{- end -}}

{{/* Non-secret environment of every backend process (ConfigMap data). */}}
{{- define "schema.configData" -}}
{{- $fullname := include "schema.fullname" . -}}
{{- $hosts := list "localhost" "127.0.0.1" (include "schema.apiServiceName" .) (printf "%s.%s.svc" (include "schema.apiServiceName" .) .Release.Namespace) -}}
{{- $origins := list -}}
{{- if .Values.ingress.enabled -}}
{{- range .Values.ingress.hosts -}}
{{- $hosts = append $hosts . -}}
{{- $origins = append $origins (printf "https://%s" .) -}}
{{- end -}}
{{- end -}}
{{- $hosts = concat $hosts .Values.config.allowedHosts | uniq -}}
{{- $origins = concat $origins .Values.config.csrfTrustedOrigins | uniq -}}
{{- $publicUrl := .Values.config.publicUrl -}}
{{- if and (not $publicUrl) .Values.ingress.enabled .Values.ingress.hosts -}}
{{- $publicUrl = printf "https://%s" (first .Values.ingress.hosts) -}}
{{- end -}}
DJANGO_SETTINGS_MODULE: {{ .Values.config.settingsModule | quote }}
DJANGO_ALLOWED_HOSTS: {{ join "," $hosts | quote }}
DJANGO_CSRF_TRUSTED_ORIGINS: {{ join "," $origins | quote }}
DJANGO_SECURE_SSL_REDIRECT: {{ .Values.config.secureSslRedirect | toString | quote }}
SCHEMA_PUBLIC_URL: {{ $publicUrl | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
PORT: {{ .Values.api.port | toString | quote }}
WORKER_METRICS_PORT: {{ .Values.worker.metricsPort | toString | quote }}
SCHEMA_HEARTBEAT_DIR: "/tmp"
{{- if .Values.secrets.mountAsFiles }}
{{- range list "DJANGO_SECRET_KEY" "DATABASE_URL" "RABBITMQ_URL" "SCHEMA_CREDENTIAL_KEYS" }}
{{ . }}_FILE: {{ printf "%s/%s" $.Values.secrets.mountPath . | quote }}
{{- end }}
{{- end }}
{{- with .Values.tracing }}
{{- if .otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .otlpEndpoint | quote }}
OTEL_TRACES_SAMPLER: {{ .sampler | quote }}
OTEL_TRACES_SAMPLER_ARG: {{ .samplerArg | quote }}
{{- end }}
{{- end }}
{{- range $key, $value := .Values.config.extraEnv }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Secret environment (Secret stringData); fails early when a required value is missing. */}}
{{- define "schema.secretData" -}}
DJANGO_SECRET_KEY: {{ required "secrets.djangoSecretKey is required (or set secrets.existingSecret)" .Values.secrets.djangoSecretKey | quote }}
DATABASE_URL: {{ required "secrets.databaseUrl is required, e.g. postgresql://user:pass@host:5432/schema (or set secrets.existingSecret)" .Values.secrets.databaseUrl | quote }}
RABBITMQ_URL: {{ required "secrets.rabbitmqUrl is required, e.g. amqp://user:pass@host:5672/ (or set secrets.existingSecret)" .Values.secrets.rabbitmqUrl | quote }}
SCHEMA_CREDENTIAL_KEYS: {{ required "secrets.credentialKeys is required: Fernet keys, newest first (or set secrets.existingSecret)" .Values.secrets.credentialKeys | quote }}
{{- end -}}

{{/* Pod annotations that roll every backend pod when its configuration changes. */}}
{{- define "schema.configChecksums" -}}
checksum/config: {{ include "schema.configData" . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include "schema.secretData" . | sha256sum }}
{{- end }}
{{- end -}}

{{/* envFrom of every backend container; the hook variant uses the hook copies (migrations). */}}
{{- define "schema.backendEnvFrom" -}}
- configMapRef:
    name: {{ include "schema.fullname" .ctx }}{{ if .hook }}-hook{{ end }}
{{- if not .ctx.Values.secrets.mountAsFiles }}
- secretRef:
    name: {{ include "schema.secretSource" . }}
{{- end }}
{{- end -}}

{{/* The Secret a backend container reads: (dict "ctx" $ "hook" bool); hooks read the hook copy. */}}
{{- define "schema.secretSource" -}}
{{- if or .ctx.Values.secrets.existingSecret (not .hook) }}{{ include "schema.secretName" .ctx }}{{ else }}{{ include "schema.fullname" .ctx }}-hook{{ end -}}
{{- end -}}

{{/* secrets.mountAsFiles: the Secret as read-only files, named by the *_FILE variables of configData. */}}
{{- define "schema.secretVolume" -}}
{{- if .ctx.Values.secrets.mountAsFiles }}
- name: secrets
  secret:
    secretName: {{ include "schema.secretSource" . }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "schema.secretVolumeMount" -}}
{{- if .Values.secrets.mountAsFiles }}
- name: secrets
  mountPath: {{ .Values.secrets.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* The writable /tmp of a read-only root filesystem. */}}
{{- define "schema.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}

{{- define "schema.tmpVolumeMount" -}}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Scheduling block shared by the pods: call with (dict "ctx" $ "values" .Values.api). */}}
{{- define "schema.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- tpl (toYaml .) $.ctx | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

