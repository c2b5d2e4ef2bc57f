"""A Helm chart with the same objects as the plain manifests (Deployment with probes and
`maxUnavailable: 0`, Service, Ingress with cert-manager TLS, PodDisruptionBudget, HPA, a
pre-install/pre-upgrade hook Job running the release command), a `values.schema.json` that
Helm checks on every install, and one values file per environment (its plain env).

Accessories (`[accessories.*]` of cockpit.toml) become optional StatefulSets
(`accessories.<name>.enabled`, on unless the table says `external = true`): per accessory a
Secret `<release>-<chart>-<name>-auth` with a password made once (`randAlphaNum`, kept on
upgrades through `lookup`, and on uninstall by `helm.sh/resource-policy: keep`), a headless
Service and a StatefulSet with one replica, the kind's readiness probe and a volumeClaimTemplate
(`storage`) whose PersistentVolumeClaim outlives the release. The app and the release Job get
the URL as `envVar`, composed from the password by Kubernetes' `$(VAR)` expansion (Kubernetes
API docs, EnvVar.value: "Variable references $(VAR_NAME) are expanded using the previously
defined environment variables in the container"). With accessories the release hook runs
post-install (the StatefulSet must exist first; Helm creates chart objects only after
pre-install hooks) and pre-upgrade, after init containers that wait until each accessory
answers.
"""

from __future__ import annotations

import json

from cockpit.accessories import database, db_user
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

{{- define "app.accessory" -}}
{{- printf "%s-%s" (include "app.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "app.anyAccessory" -}}
{{- range $name, $acc := .Values.accessories }}{{ if $acc.enabled }}yes{{ end }}{{ end -}}
{{- end -}}

{{- define "app.accessoryPassword" -}}
{{- printf "ACCESSORY_%s_PASSWORD" (.name | upper | replace "-" "_") -}}
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
  {{- range $name, $acc := .Values.accessories }}
  {{- if $acc.enabled }}
  {{- $host := include "app.accessory" (dict "root" $ "name" $name) }}
  {{- $pw := include "app.accessoryPassword" (dict "name" $name) }}
  - name: {{ $pw }}
    valueFrom:
      secretKeyRef:
        name: {{ $host }}-auth
        key: PASSWORD
  - name: {{ $acc.envVar }}
    {{- $at := printf "%s:%v" $host $acc.port }}
    {{- if eq $acc.kind "postgres" }}
    {{- $who := printf "%s:$(%s)" $acc.user $pw }}
    value: {{ printf "%s://%s@%s/%s" $acc.scheme $who $at $acc.database | quote }}
    {{- else }}
    value: {{ printf "%s://default:$(%s)@%s/0" $acc.scheme $pw $at | quote }}
    {{- end }}
  {{- end }}
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
    {{- if include "app.anyAccessory" . }}
    # the accessories' StatefulSets are chart objects: on a first install they exist only
    # after the pre-install hooks, so the release command runs post-install there
    helm.sh/hook: post-install,pre-upgrade
    {{- else }}
    helm.sh/hook: pre-install,pre-upgrade
    {{- end }}
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
      {{- if include "app.anyAccessory" . }}
      initContainers:
        {{- range $name, $acc := .Values.accessories }}
        {{- if $acc.enabled }}
        {{- $host := include "app.accessory" (dict "root" $ "name" $name) }}
        - name: wait-{{ $name }}
          image: {{ $acc.image | quote }}
          {{- $at := printf "-h %s -p %v" $host $acc.port }}
          {{- $checks := dict "postgres" "pg_isready -q %s"
                "redis" "redis-cli %s ping 2>&1 | grep -q -e PONG -e NOAUTH" }}
          {{- $check := printf (get $checks $acc.kind) $at }}
          command: ["sh", "-c", {{ printf "until %s; do sleep 2; done" $check | quote }}]
        {{- end }}
        {{- end }}
      {{- end }}
      containers:
        - name: release
          {{- include "app.container" . | nindent 10 }}
          command: ["sh", "-c", {{ .Values.release.command | quote }}]
      volumes:
        - name: tmp
          emptyDir: {}
{{- end }}
"""

_ACCESSORIES = """{{- range $name, $acc := .Values.accessories }}
{{- if $acc.enabled }}
{{- $full := include "app.accessory" (dict "root" $ "name" $name) }}
{{- $secret := printf "%s-auth" $full }}
{{- $existing := lookup "v1" "Secret" $.Release.Namespace $secret }}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ $secret }}
  labels:
    {{- include "app.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ $name }}
  annotations:
    # made once: upgrades keep it (lookup), and so does an uninstall, like the data's claim
    helm.sh/resource-policy: keep
type: Opaque
data:
  {{- if and $existing $existing.data }}
  PASSWORD: {{ index $existing.data "PASSWORD" | quote }}
  {{- else }}
  PASSWORD: {{ randAlphaNum 40 | b64enc | quote }}
  {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $full }}
  labels:
    {{- include "app.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ $name }}
spec:
  clusterIP: None
  selector:
    app.kubernetes.io/instance: {{ $.Release.Name }}
    app.kubernetes.io/component: {{ $name }}
  ports:
    - name: {{ $acc.kind }}
      port: {{ $acc.port }}
      targetPort: {{ $acc.kind }}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $full }}
  labels:
    {{- include "app.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ $name }}
spec:
  serviceName: {{ $full }}
  replicas: 1
  selector:
    matchLabels:
      # not the app's selector (app.kubernetes.io/name is the chart's): its Service never
      # routes here
      app.kubernetes.io/instance: {{ $.Release.Name }}
      app.kubernetes.io/component: {{ $name }}
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: Retain
    whenScaled: Retain
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ $.Release.Name }}
        app.kubernetes.io/component: {{ $name }}
    spec:
      terminationGracePeriodSeconds: 30
      containers:
        - name: {{ $acc.kind }}
          image: {{ $acc.image | quote }}
          imagePullPolicy: IfNotPresent
@SERVER@
          ports:
            - name: {{ $acc.kind }}
              containerPort: {{ $acc.port }}
          readinessProbe:
            exec:
@HEALTH@
            periodSeconds: 5
            timeoutSeconds: 5
            failureThreshold: 3
          volumeMounts:
            - name: data
              mountPath: {{ $acc.dataDir }}
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: ["ReadWriteOnce"]
        {{- with $acc.storageClassName }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ $acc.storage }}
{{- end }}
{{- end }}
"""


# What differs between the kinds in the StatefulSet's container, one row per kind: the
# server's environment in order (a value is template text; None: the password, from the
# accessory's Secret). Its command and readiness check are the VPS accessory's
# (`cockpit.providers.vps.accessories` COMMAND, HEALTH_CMD: the same images, the same checks).
_SERVER_ENV: dict[str, list[tuple[str, str | None]]] = {
    "postgres": [("POSTGRES_USER", "{{ $acc.user | quote }}"),
                 ("POSTGRES_DB", "{{ $acc.database | quote }}"),
                 ("POSTGRES_PASSWORD", None),
                 ("PGDATA", "/var/lib/postgresql/data/pgdata")],
    "redis": [("REDIS_PASSWORD", None)],
}


def _by_kind(indent: int, lines: dict[str, list[str]]) -> str:
    """The template's switch on `$acc.kind`: for each kind (in `lines`' order) its lines,
    indented by `indent` spaces; renders only the accessory's own kind."""
    pad = " " * indent
    out = []
    for i, (kind, body) in enumerate(lines.items()):
        out.append(f'{pad}{{{{- {"else if" if i else "if"} eq $acc.kind "{kind}" }}}}')
        out += [pad + line for line in body]
    return "\n".join([*out, pad + "{{- end }}"])


def _accessories_template() -> str:
    """The accessories' template, its per-kind parts of the StatefulSet's container (command,
    environment, readiness check) from one row per kind (_SERVER_ENV, and COMMAND / HEALTH_CMD
    of `cockpit.providers.vps.accessories`)."""
    from cockpit.providers.vps.accessories import COMMAND, HEALTH_CMD

    server: dict[str, list[str]] = {}
    for kind, env in _SERVER_ENV.items():
        lines = [f"command: {json.dumps(COMMAND[kind])}"] if COMMAND[kind] else []
        lines.append("env:")
        for var, value in env:
            lines.append(f"  - name: {var}")
            lines += [f"    value: {value}"] if value is not None else [
                "    valueFrom:", "      secretKeyRef:", "        name: {{ $secret }}",
                "        key: PASSWORD"]
        server[kind] = lines
    health = {kind: [f'command: ["sh", "-c", {json.dumps(HEALTH_CMD[kind])}]']
              for kind in _SERVER_ENV}
    return (_ACCESSORIES.replace("@SERVER@", _by_kind(10, server))
            .replace("@HEALTH@", _by_kind(14, health)))


def accessory_values(spec: Spec) -> dict:
    """`accessories.<name>` of values.yaml: enabled (false for `external = true`: the URL is
    then one of the app's secrets), kind, image, port, storage, envVar, dataDir, scheme (the
    URL's, as `cockpit.accessories.url` writes it), and for Postgres user and database."""
    out = {}
    for name, acc in sorted(spec.accessories.items()):
        v = {"enabled": not acc.external, "kind": acc.kind, "image": acc.image_ref,
             "port": acc.spec.port, "storage": acc.storage or "1Gi", "storageClassName": "",
             "envVar": acc.url_var, "dataDir": acc.spec.data_dir,
             "scheme": getattr(acc, "scheme", None) or acc.spec.scheme}
        if acc.kind == "postgres":
            v.update(user=db_user(spec.app), database=database(spec.app, acc))
        out[name] = v
    return out


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
        **({"accessories": accessory_values(spec)} if spec.accessories else {}),
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
            "accessories": {"type": "object", "additionalProperties": obj({
                "enabled": {"type": "boolean"},
                "kind": {"enum": ["postgres", "redis"]},
                "image": {"type": "string", "minLength": 1},
                "port": port,
                "storage": {"type": "string",
                            "pattern": r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T)?$"},
                "storageClassName": {"type": "string"},
                "envVar": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "dataDir": {"type": "string", "pattern": "^/"},
                "scheme": {"type": "string", "pattern": "^[a-z][a-z0-9+.-]*$"},
                "user": {"type": "string", "minLength": 1},
                "database": {"type": "string", "minLength": 1},
            }, ["enabled", "kind", "image", "port", "storage", "envVar", "dataDir",
                "scheme"])},
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
        *([(f"{base}/templates/accessories.yaml", _accessories_template())]
          if spec.accessories else []),
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
