"""A Helm chart with the same objects as the plain manifests (Deployment with probes and
`maxUnavailable: 0`, Service, Ingress with cert-manager TLS, PodDisruptionBudget, HPA, a
pre-install/pre-upgrade hook Job running the release command), a `values.schema.json` that
Helm checks on every install, and one values file per environment (its plain env).
"""

from __future__ import annotations

import json

from cockpit.generate import EnvSpec, Spec
from cockpit.generate.kubernetes import host
from cockpit.generate.yamlout import dump

_HELPERS = """{{- define "app.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "app.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "app.labels" -}}
{{ include "app.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "app.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "app.container" -}}
image: {{ include "app.image" . | quote }}
imagePullPolicy: IfNotPresent
env:
  - name: PORT
    value: {{ .Values.port | quote }}
  {{- range $name, $value := .Values.env }}
  - name: {{ $name }}
    value: {{ $value | quote }}
  {{- end }}
{{- if .Values.secrets.names }}
envFrom:
  - secretRef:
      name: {{ .Values.secrets.name | default (printf "%s-secrets" (include "app.name" .)) }}
      optional: true
{{- end }}
resources:
  {{- toYaml .Values.resources | nindent 2 }}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}
"""

_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 10
  progressDeadlineSeconds: 300
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "app.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "app.selectorLabels" . | nindent 8 }}
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      terminationGracePeriodSeconds: 30
      containers:
        - name: app
          {{- include "app.container" . | nindent 10 }}
          ports:
            - name: http
              containerPort: {{ .Values.port }}
          readinessProbe:
            httpGet:
              path: {{ .Values.healthPath }}
              port: http
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 3
          livenessProbe:
            httpGet:
              path: {{ .Values.healthPath }}
              port: http
            initialDelaySeconds: 10
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          startupProbe:
            httpGet:
              path: {{ .Values.healthPath }}
              port: http
            periodSeconds: 2
            failureThreshold: 60
      volumes:
        - name: tmp
          emptyDir: {}
"""

_SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
spec:
  selector:
    {{- include "app.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
"""

_INGRESS = """{{- if .Values.ingress.enabled }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
  annotations:
    cert-manager.io/cluster-issuer: {{ .Values.ingress.clusterIssuer | quote }}
spec:
  {{- with .Values.ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  tls:
    - hosts:
        - {{ .Values.ingress.host | quote }}
      secretName: {{ include "app.fullname" . }}-tls
  rules:
    - host: {{ .Values.ingress.host | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ include "app.fullname" . }}
                port:
                  name: http
{{- end }}
"""

_PDB = """{{- if .Values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
spec:
  {{- if gt (int .Values.replicaCount) 1 }}
  minAvailable: {{ .Values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: 1
  {{- end }}
  selector:
    matchLabels:
      {{- include "app.selectorLabels" . | nindent 6 }}
{{- end }}
"""

_HPA = """{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "app.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
"""

_JOB = """{{- if .Values.release.enabled }}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "app.fullname" . }}-release
  labels:
    {{- include "app.labels" . | nindent 4 }}
  annotations:
    # run once per install/upgrade, before the new pods; a failure fails the upgrade and the
    # old release keeps serving. The Job stays (with its logs) until the next hook replaces it.
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  backoffLimit: 0
  activeDeadlineSeconds: {{ .Values.release.timeout }}
  template:
    metadata:
      labels:
        # not the Service's selector: the Service never routes to the release command's pod
        app.kubernetes.io/name: {{ include "app.name" . }}
        app.kubernetes.io/component: release-command
    spec:
      restartPolicy: Never
      securityContext:
        runAsNonRoot: true
      containers:
        - name: release
          {{- include "app.container" . | nindent 10 }}
          command: ["sh", "-c", {{ .Values.release.command | quote }}]
      volumes:
        - name: tmp
          emptyDir: {}
{{- end }}
"""

_NOTES = """{{ include "app.fullname" . }} is deployed.
{{- if .Values.ingress.enabled }}
URL: https://{{ .Values.ingress.host }}
TLS: cert-manager issuer {{ .Values.ingress.clusterIssuer }}
{{- end }}
Health: {{ .Values.healthPath }} on port {{ .Values.port }}
"""


def values(spec: Spec, env: EnvSpec | None = None) -> dict:
    replicas = max(env.replicas, 2 if env.protected else 1) if env else 1
    return {
        "image": {"repository": f"ghcr.io/OWNER/{spec.app}", "tag": "", "digest": ""},
        "replicaCount": replicas,
        "port": spec.port,
        "healthPath": spec.health_path,
        "env": {k: v for k, v in sorted({**spec.app_env, **(env.env if env else {})}.items())
                if k != "PORT"},
        "secrets": {"name": f"{spec.app}-secrets", "names": list(spec.secrets)},
        "service": {"port": 80},
        "ingress": {"enabled": True, "className": "nginx", "clusterIssuer": "letsencrypt",
                    "host": host(spec, env) if env else f"{spec.app}.example.com"},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"memory": "512Mi"}},
        "autoscaling": {"enabled": bool(env and env.protected), "minReplicas": replicas,
                        "maxReplicas": max(replicas * 4, 4),
                        "targetCPUUtilizationPercentage": 70},
        "pdb": {"enabled": True, "minAvailable": 1},
        "release": {"enabled": bool(spec.release_command),
                    "command": spec.release_command or "", "timeout": 600},
    }


def schema() -> dict:
    def obj(props: dict, required: list[str] | None = None) -> dict:
        return {"type": "object", "additionalProperties": False, "properties": props,
                "required": required if required is not None else list(props)}

    port = {"type": "integer", "minimum": 1, "maximum": 65535}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "values",
        **obj({
            "image": obj({
                "repository": {"type": "string", "minLength": 1},
                "tag": {"type": "string"},
                "digest": {"type": "string", "pattern": "^(|sha256:[a-f0-9]{64})$"},
            }, ["repository"]),
            "replicaCount": {"type": "integer", "minimum": 1, "maximum": 100},
            "port": port,
            "healthPath": {"type": "string", "pattern": "^/"},
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
            "secrets": obj({"name": {"type": "string"},
                            "names": {"type": "array", "items": {
                                "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}}},
                           ["names"]),
            "service": obj({"port": port}),
            "ingress": obj({"enabled": {"type": "boolean"}, "className": {"type": "string"},
                            "clusterIssuer": {"type": "string", "minLength": 1},
                            "host": {"type": "string",
                                     "pattern": r"^([a-zA-Z0-9-]{1,63}\.)+[a-zA-Z]{2,63}$"}},
                           ["enabled", "host"]),
            "resources": {"type": "object"},
            "autoscaling": obj({"enabled": {"type": "boolean"},
                                "minReplicas": {"type": "integer", "minimum": 1},
                                "maxReplicas": {"type": "integer", "minimum": 1},
                                "targetCPUUtilizationPercentage": {
                                    "type": "integer", "minimum": 1, "maximum": 100}}),
            "pdb": obj({"enabled": {"type": "boolean"},
                        "minAvailable": {"type": ["integer", "string"]}}),
            "release": obj({"enabled": {"type": "boolean"}, "command": {"type": "string"},
                            "timeout": {"type": "integer", "minimum": 1}}),
        }, ["image", "replicaCount", "port", "healthPath", "service", "ingress"]),
    }


def render_all(spec: Spec) -> list[tuple[str, str]]:
    base = f"deploy/helm/{spec.app}"
    chart = {"apiVersion": "v2", "name": spec.app,
             "description": f"{spec.app}, generated by cockpit", "type": "application",
             "version": "0.1.0", "appVersion": "1.0.0"}
    files = [
        (f"{base}/Chart.yaml", dump(chart)),
        (f"{base}/values.yaml", "# Defaults; per-environment overrides in values-<env>.yaml\n"
         + dump(values(spec))),
        (f"{base}/values.schema.json", json.dumps(schema(), indent=2) + "\n"),
        (f"{base}/templates/_helpers.tpl", _HELPERS),
        (f"{base}/templates/deployment.yaml", _DEPLOYMENT),
        (f"{base}/templates/service.yaml", _SERVICE),
        (f"{base}/templates/ingress.yaml", _INGRESS),
        (f"{base}/templates/pdb.yaml", _PDB),
        (f"{base}/templates/hpa.yaml", _HPA),
        (f"{base}/templates/release-job.yaml", _JOB),
        (f"{base}/templates/NOTES.txt", _NOTES),
        (f"{base}/.helmignore", ".git\n*.orig\n*.bak\n"),
    ]
    for env in spec.environments:
        v = values(spec, env)
        override = {"replicaCount": v["replicaCount"], "ingress": {"host": v["ingress"]["host"]},
                    "env": v["env"],
                    "autoscaling": {"enabled": v["autoscaling"]["enabled"],
                                    "minReplicas": v["autoscaling"]["minReplicas"],
                                    "maxReplicas": v["autoscaling"]["maxReplicas"]}}
        files.append((f"{base}/values-{env.name}.yaml",
                      f"# helm upgrade --install {spec.app} . -f values-{env.name}.yaml "
                      f"-n {env.namespace or spec.app + '-' + env.name}\n" + dump(override)))
    return files
