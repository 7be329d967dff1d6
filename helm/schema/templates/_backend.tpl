{{/*
One Deployment definition for the three backend processes (api, worker, beat): same image,
same configuration, same security context; they differ only in command, ports, probes,
replica count and strategy. Call with
  (dict "ctx" $ "component" "api" "values" .Values.api "ports" (list (dict "name" "http" "containerPort" 8000)))
*/}}
{{- define "schema.backendDeployment" -}}
{{- $ctx := .ctx -}}
{{- $v := .values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "schema.fullname" $ctx }}-{{ .component }}
  labels:
    {{- include "schema.labels" (dict "ctx" $ctx "component" .component) | nindent 4 }}
spec:
  {{- if not (or (dig "autoscaling" "enabled" false $v) (dig "keda" "enabled" false $v)) }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: {{ $ctx.Values.revisionHistoryLimit }}
  {{- with .strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "schema.selectorLabels" (dict "ctx" $ctx "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "schema.selectorLabels" (dict "ctx" $ctx "component" .component) | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- include "schema.configChecksums" $ctx | nindent 8 }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "schema.serviceAccountName" $ctx }}
      automountServiceAccountToken: false
      {{- with $ctx.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $ctx.Values.podSecurityContext | nindent 8 }}
      {{- with include "schema.scheduling" (dict "ctx" $ctx "values" $v) | trim }}
      {{- . | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "schema.backendImage" $ctx }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          command: {{ toJson $v.command }}
          {{- with .ports }}
          ports:
            {{- range . }}
            - name: {{ .name }}
              containerPort: {{ .containerPort }}
              protocol: TCP
            {{- end }}
          {{- end }}
          envFrom:
            {{- include "schema.backendEnvFrom" (dict "ctx" $ctx "hook" false) | nindent 12 }}
          {{- with $v.extraEnv }}
          env:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.startupProbe }}
          startupProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.livenessProbe }}
          livenessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $v.readinessProbe }}
          readinessProbe:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- toYaml $ctx.Values.securityContext | nindent 12 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          volumeMounts:
            {{- include "schema.tmpVolumeMount" $ctx | nindent 12 }}
            {{- include "schema.secretVolumeMount" $ctx | nindent 12 }}
      volumes:
        {{- include "schema.tmpVolume" $ctx | nindent 8 }}
        {{- include "schema.secretVolume" (dict "ctx" $ctx "hook" false) | nindent 8 }}
{{- end -}}

{{/*
HorizontalPodAutoscaler on CPU (and optionally memory): (dict "ctx" $ "component" "api" "values" .Values.api)
*/}}
{{- define "schema.hpa" -}}
{{- $a := .values.autoscaling -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "schema.fullname" .ctx }}-{{ .component }}
  labels:
    {{- include "schema.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "schema.fullname" .ctx }}-{{ .component }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
    {{- with $a.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
  {{- with $a.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* PodDisruptionBudget: (dict "ctx" $ "component" "api" "values" .Values.api) */}}
{{- define "schema.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "schema.fullname" .ctx }}-{{ .component }}
  labels:
    {{- include "schema.labels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
spec:
  {{- if hasKey .values.pdb "minAvailable" }}
  minAvailable: {{ .values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "schema.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
{{- end -}}
