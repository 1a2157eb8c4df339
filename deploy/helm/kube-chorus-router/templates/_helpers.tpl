{{/* The base name of every object (kube-chorus-router, as in deploy/kubernetes). */}}
{{- define "kcr.fullname" -}}
{{- .Values.fullnameOverride | default .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object; selectors use only app.kubernetes.io/name (the
DaemonSet's selector is immutable and equals the kustomize install's). */}}
{{- define "kcr.labels" -}}
app.kubernetes.io/part-of: kube-chorus-router
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kcr.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The two settings without a default (remoteVtep is optional with type
none, route-only). Both are checked at once, so one failed `helm install`
names everything that is missing. */}}
{{- define "kcr.required" -}}
{{- $missing := list -}}
{{- if not .Values.network -}}
{{- $missing = append $missing "network (the overlay subnet, e.g. --set network=192.168.254.0/24)" -}}
{{- end -}}
{{- if and (not .Values.remoteVtep) (ne (toString .Values.type) "none") -}}
{{- $missing = append $missing "remoteVtep (the device's underlay VTEP address, e.g. --set remoteVtep=<device IP>)" -}}
{{- end -}}
{{- if $missing -}}
{{- fail (printf "\nkube-chorus-router: required values missing: %s" (join "; " $missing)) -}}
{{- end -}}
{{- if not (regexMatch "^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$" (toString .Values.network)) -}}
{{- fail (printf "\nkube-chorus-router: network %q is not an IPv4 CIDR like 192.168.254.0/24" (toString .Values.network)) -}}
{{- end -}}
{{- end -}}

{{/* What both workloads' container shares: settings, env, ports, probes.
The role flag (args), resources and securityContext are each workload's. */}}
{{- define "kcr.container" -}}
image: {{ include "kcr.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
envFrom:
  - configMapRef:
      name: {{ include "kcr.fullname" . }}-settings
# From the pod itself (env wins over envFrom). NODE_NAME: the controller's
# Lease identity starts with it.
env:
  - name: NODE_NAME
    valueFrom:
      fieldRef:
        fieldPath: spec.nodeName
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
  # Next to the probes and ports that depend on them.
  - name: KCR_HEALTH_ADDR
    value: {{ printf "0.0.0.0:%d" (int .Values.ports.health) | quote }}
  - name: KCR_METRICS_ADDR
    value: {{ printf "0.0.0.0:%d" (int .Values.ports.metrics) | quote }}
ports:
  - name: health
    containerPort: {{ .Values.ports.health }}
    protocol: TCP
  - name: metrics
    containerPort: {{ .Values.ports.metrics }}
    protocol: TCP
livenessProbe:
  httpGet:
    path: /healthz
    port: health
  initialDelaySeconds: 5
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: health
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}

{{/* Pod template annotations: scrape hints, and the settings' checksum so that
a settings change rolls both workloads (kustomize does it by a hashed name). */}}
{{- define "kcr.podAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.metrics | quote }}
prometheus.io/path: /metrics
checksum/settings: {{ include (print $.Template.BasePath "/settings.yaml") . | sha256sum }}
{{- end -}}
